//! What the administration pages (merchants, resellers, managers, P2P clients, refund
//! requests) share: reading the signed-in manager and a posted form (its CSRF token checked
//! first), the answers of an action (303 back to the page, the page showing a new secret once,
//! 403, 404, 422), and the audit entry every action writes.

use std::collections::HashMap;

use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use obol_core::tenancy::{Ancestry, Permission, TenancyError};
use obol_core::time::Timestamp;
use obol_http::state::AppState;
use obol_store::StoreError;
use obol_store::db::Db;
use obol_store::ops::audit;

use crate::layout;
use crate::session::{self, Denied, Staff};

pub(crate) type FormBody = Result<Form<HashMap<String, String>>, FormRejection>;
pub(crate) type Query = HashMap<String, String>;

/// The manager of a page's request, or the answer instead (the sign-in page).
pub(crate) async fn viewer(
    state: &AppState,
    headers: &HeaderMap,
    query: &Query,
    ip: Option<String>,
) -> Result<Staff, Denied> {
    session::staff(state, headers, query.get("lang").map(String::as_str), ip).await
}

/// The manager of a posted form and its fields, the form's CSRF token checked before anything
/// else is read (a missing or foreign token: 403).
pub(crate) async fn poster(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<String>,
    form: FormBody,
) -> Result<(Staff, HashMap<String, String>), Denied> {
    let staff = session::staff(state, headers, None, ip).await?;
    let fields = match form {
        Ok(Form(fields)) => fields,
        // An unreadable body has no token to trust either.
        Err(_) => return Err(layout::forbidden(&staff.frame("")).into()),
    };
    staff.check_csrf(state, fields.get("csrf_token").map(String::as_str))?;
    Ok((staff, fields))
}

/// Whether the manager reaches something of reseller `ancestry` for `permission`: outside its
/// subtree answers 404 exactly as if nothing were there; a role that may not, 403.
pub(crate) fn reach(
    staff: &Staff,
    ancestry: &Ancestry,
    permission: Permission,
    path: &str,
) -> Result<(), Denied> {
    match staff.reaches(ancestry, permission) {
        Ok(()) => Ok(()),
        Err(TenancyError::PermissionDenied) => Err(layout::forbidden(&staff.frame(path)).into()),
        Err(_) => Err(layout::not_found(&staff.frame(path)).into()),
    }
}

/// 403 unless the manager's role allows `permission` (on its own subtree).
pub(crate) fn allowed(staff: &Staff, permission: Permission, path: &str) -> Result<(), Denied> {
    if staff.may(permission) {
        Ok(())
    } else {
        Err(layout::forbidden(&staff.frame(path)).into())
    }
}

/// 303 back to the page an action came from.
pub(crate) fn back_to(path: &str) -> Response {
    let location =
        HeaderValue::from_str(path).unwrap_or_else(|_| HeaderValue::from_static("/dashboard"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// A page showing new secrets, once: 200, never stored by the browser or a proxy. The secrets
/// exist in clear only in this answer.
pub(crate) fn secret_page(
    staff: &Staff,
    path: &str,
    title: &str,
    notice: &str,
    secrets: &[(&str, &str)],
    back: (&str, &str),
) -> Response {
    let frame = staff.frame(path);
    let body = html! {
        p.notice role="status" { (notice) }
        dl.facts {
            @for (name, value) in secrets {
                dt { (name) }
                dd { code.secret data-secret=(name) { (value) } }
            }
        }
        p { a href=(back.0) { (back.1) } }
    };
    let mut response = layout::respond(StatusCode::OK, layout::document(&frame, title, body));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, max-age=0"),
    );
    response
}

/// An error message shown above a page's content.
pub(crate) fn error_line(error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
    }
}

/// A form field, trimmed; `None` when missing or blank.
pub(crate) fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    fields
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
}

/// A checkbox (or a `true`/`false` field): checked when sent as `on`, `true` or `1`.
pub(crate) fn checked(fields: &HashMap<String, String>, name: &str) -> bool {
    matches!(field(fields, name), Some("on" | "true" | "1"))
}

/// Writes what the manager did to the audit log (in the caller's transaction).
pub(crate) async fn record(
    db: &mut dyn Db,
    staff: &Actor,
    action: &str,
    subject: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    audit::record(
        db,
        staff.manager_id,
        action,
        subject,
        staff.ip.as_deref(),
        now,
    )
    .await
}

/// Who did an action, as a store transaction (which must own what it uses) needs it.
#[derive(Clone)]
pub(crate) struct Actor {
    pub manager_id: obol_core::ids::ManagerId,
    pub ip: Option<String>,
}

impl Actor {
    pub fn of(staff: &Staff) -> Actor {
        Actor {
            manager_id: staff.manager.id,
            ip: staff.ip.clone(),
        }
    }
}

/// The failure of an action's store work: a database failure is logged and answered without
/// detail (the caller maps the failures it expects, such as a missing row, first).
pub(crate) fn failed(error: &StoreError) -> Response {
    layout::store_error(error)
}

/// An operation on `/{id}` paths, with its `id` parameter.
pub(crate) fn with_id(mut operation: serde_json::Value) -> serde_json::Value {
    operation["parameters"] = serde_json::json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]);
    operation
}
