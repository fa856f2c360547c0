//! Resellers (SPEC §7): the tree of the manager's subtree (its own reseller at the top), and
//! creating a child of any reseller in it (`ManageMerchants`: admins).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use obol_core::ids::ResellerId;
use obol_core::tenancy::{Name, Permission};
use obol_http::auth::ClientIp;
use obol_http::state::AppState;
use obol_store::StoreError;
use obol_store::ops::{administration, tenancy};
use serde_json::{Map, Value, json};

use crate::admin::{self, Actor, FormBody};
use crate::layout;
use crate::login::operation;
use crate::session::Staff;
use crate::texts;

struct Words {
    title: &'static str,
    name: &'static str,
    parent: &'static str,
    create: &'static str,
    name_invalid: &'static str,
    parent_invalid: &'static str,
}

const ENGLISH: Words = Words {
    title: "Resellers",
    name: "Name",
    parent: "Parent reseller",
    create: "Create a reseller",
    name_invalid: "The name must be 1 to 255 characters and not blank.",
    parent_invalid: "Choose a parent of your own.",
};

const RUSSIAN: Words = Words {
    title: "Реселлеры",
    name: "Название",
    parent: "Родительский реселлер",
    create: "Создать реселлера",
    name_invalid: "Название: от 1 до 255 символов, не пустое.",
    parent_invalid: "Выберите своего родителя.",
};

const UKRAINIAN: Words = Words {
    title: "Реселери",
    name: "Назва",
    parent: "Батьківський реселер",
    create: "Створити реселера",
    name_invalid: "Назва: від 1 до 255 символів, не порожня.",
    parent_invalid: "Оберіть свого батька.",
};

fn words(staff: &Staff) -> &'static Words {
    texts::pick(staff.language, &ENGLISH, &RUSSIAN, &UKRAINIAN)
}

const LIST: &str = "/dashboard/resellers";

async fn page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let scope = staff.ancestry.clone();
    let found = state
        .store
        .read(move |db| Box::pin(async move { administration::resellers_within(db, &scope).await }))
        .await;
    let mut resellers = match found {
        Ok(resellers) => resellers,
        Err(error) => return admin::failed(&error),
    };
    // Depth-first: each reseller right under its parent (ancestry paths compared id by id).
    resellers.sort_by(|left, right| left.ancestry.ids().cmp(right.ancestry.ids()));
    let top = staff.ancestry.depth();
    let frame = staff.frame(LIST);
    let words = words(staff);
    let body = html! {
        (admin::error_line(error))
        ul.card {
            @for reseller in &resellers {
                @let indent = reseller.ancestry.depth().saturating_sub(top);
                li {
                    ("\u{2014} ".repeat(indent)) (reseller.id.get()) " · " (reseller.name.as_str())
                }
            }
        }
        @if staff.may(Permission::ManageMerchants) {
            h2 { (words.create) }
            form.card method="post" action=(LIST) {
                (frame.csrf())
                label for="name" { (words.name) }
                input id="name" name="name" required maxlength="255";
                label for="parent_id" { (words.parent) }
                select id="parent_id" name="parent_id" {
                    @for reseller in &resellers {
                        option value=(reseller.id.get()) { (reseller.id.get()) " · " (reseller.name.as_str()) }
                    }
                }
                p { button type="submit" { (words.create) } }
            }
        }
    };
    layout::respond(status, layout::document(&frame, words.title, body))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<admin::Query>,
) -> Response {
    match admin::viewer(&state, &headers, &query, ip).await {
        Ok(staff) => page(&state, &staff, StatusCode::OK, None).await,
        Err(answer) => answer.into_response(),
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let (staff, fields) = match admin::poster(&state, &headers, ip, form).await {
        Ok(posted) => posted,
        Err(answer) => return answer.into_response(),
    };
    if let Err(answer) = admin::allowed(&staff, Permission::ManageMerchants, LIST) {
        return answer.into_response();
    }
    let words = words(&staff);
    let refuse = |message| {
        page(
            &state,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message),
        )
    };
    let Some(name) = admin::field(&fields, "name").and_then(|name| Name::parse(name).ok()) else {
        return refuse(words.name_invalid).await;
    };
    let Some(parent_id) =
        admin::field(&fields, "parent_id").and_then(|id| ResellerId::parse(id).ok())
    else {
        return refuse(words.parent_invalid).await;
    };
    let parent = state
        .store
        .read(move |db| Box::pin(tenancy::get_reseller(db, parent_id)))
        .await;
    match parent {
        Ok(parent)
            if staff
                .reaches(&parent.ancestry, Permission::ManageMerchants)
                .is_ok() => {}
        Ok(_) | Err(StoreError::NotFound(_)) => return refuse(words.parent_invalid).await,
        Err(error) => return admin::failed(&error),
    }
    let actor = Actor::of(&staff);
    let now = state.clock.now();
    let created = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let reseller = tenancy::create_reseller(db, name, parent_id, now).await?;
                let subject = format!("reseller:{}", reseller.id.get());
                admin::record(db, &actor, "reseller.create", &subject, now).await
            })
        })
        .await;
    match created {
        Ok(()) => admin::back_to(LIST),
        Err(StoreError::NotFound(_)) => refuse(words.parent_invalid).await,
        Err(error) => admin::failed(&error),
    }
}

pub(crate) fn routes() -> obol_http::routes::Routes {
    obol_http::routes::Routes::new()
        .get(LIST, list)
        .post(LIST, create)
}

/// The resellers' page in the OpenAPI document.
pub fn openapi_paths() -> Map<String, Value> {
    let mut create = operation(
        "Create a child reseller",
        Some(&["name", "parent_id", "csrf_token"]),
        true,
    );
    create["responses"]["422"] = json!({ "description": "Refused: the form again, with why." });
    let mut paths = Map::new();
    paths.insert(
        LIST.into(),
        json!({ "get": operation("The reseller tree of the manager's subtree", None, true), "post": create }),
    );
    paths
}
