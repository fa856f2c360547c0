//! The dashboard (SPEC §7) over real HTTP, driven as its contract says tests and scripts may:
//! without a browser, by its paths and form field names. Sign-in and sessions here; each area
//! of the dashboard has its own module.

use obol_server::commands;
use obol_testkit::{TestServer, on_both_backends};
use reqwest::{Client, StatusCode};

mod admin;
mod gaps;
mod overview;
mod payments;
mod services;
mod sessions;

use admin::{
    a_child_resellers_staff_sees_nothing_above_or_beside,
    admins_create_rotate_and_disable_managers, every_action_is_in_the_audit_log_of_its_subtree,
    managers_and_viewers_cannot_administer, merchants_are_created_changed_and_rotated_by_admins,
    p2p_clients_are_the_root_resellers, refund_requests_are_rejected_or_carried_out_in_scope,
};
use gaps::{
    gaps_a_paid_softline_refund_request_is_carried_out_once,
    gaps_balances_are_scoped_to_the_subtree, gaps_payments_are_found_by_customer_email,
};
use overview::{p2p_transfers_are_the_operators, the_overview_counts_the_managers_subtree};
use payments::{
    lists_filters_searches_and_pages, refunds_completes_and_needs_csrf, replays_a_callback,
    scope_hides_parents_and_siblings, transactions_csv,
};
use services::{
    an_admin_switches_a_merchants_services, webhook_urls_may_not_name_private_addresses,
};
use sessions::{
    a_disabled_or_rotated_manager_is_signed_out_at_once, forms_need_their_csrf_token,
    sessions_end_after_twelve_idle_hours, signing_in_and_out,
};

pub(crate) fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value after `marker` up to the next `"`, unescaped.
pub(crate) fn attribute(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
}

/// A manager signed in to the dashboard: its session cookie, and how to read and post pages
/// as it.
pub(crate) struct Staff {
    pub cookie: String,
    pub manager_id: i64,
}

impl Staff {
    pub async fn get(&self, server: &TestServer, path: &str) -> (StatusCode, String) {
        let response = client()
            .get(server.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// The CSRF token on a page of this session.
    pub async fn csrf(&self, server: &TestServer) -> String {
        let (_, html) = self.get(server, "/dashboard").await;
        attribute(&html, "name=\"csrf_token\" value=\"")
    }

    /// Posts a form with this session's CSRF token; the answer's status, `Location` and body.
    #[allow(dead_code, reason = "the dashboard's areas post their forms with it")]
    pub async fn post(
        &self,
        server: &TestServer,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let csrf = self.csrf(server).await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &csrf));
        let response = client()
            .post(server.url(path))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        (response.status(), location, response.text().await.unwrap())
    }
}

/// Signs in with `token` through the form; the session.
pub(crate) async fn sign_in(server: &TestServer, token: &str) -> reqwest::Response {
    let form = client()
        .get(server.url("/dashboard/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = attribute(&form, "name=\"csrf_token\" value=\"");
    client()
        .post(server.url("/dashboard/login"))
        .form(&[("api_token", token), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

/// A new manager of `reseller` with `role`, signed in.
pub(crate) async fn staff(
    server: &TestServer,
    reseller: i64,
    role: &str,
    name: &str,
) -> (Staff, String) {
    let manager = commands::create_manager(&server.context, reseller, role, name)
        .await
        .unwrap();
    let response = sign_in(server, &manager.api_token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    (
        Staff {
            cookie,
            manager_id: manager.id,
        },
        manager.api_token,
    )
}

pub(crate) async fn reseller(server: &TestServer, name: &str, parent: Option<i64>) -> i64 {
    commands::create_reseller(&server.context, name, parent)
        .await
        .unwrap()
        .id
}

on_both_backends!(
    an_admin_switches_a_merchants_services,
    webhook_urls_may_not_name_private_addresses,
    signing_in_and_out,
    forms_need_their_csrf_token,
    a_disabled_or_rotated_manager_is_signed_out_at_once,
    sessions_end_after_twelve_idle_hours,
    the_overview_counts_the_managers_subtree,
    p2p_transfers_are_the_operators,
    lists_filters_searches_and_pages,
    refunds_completes_and_needs_csrf,
    scope_hides_parents_and_siblings,
    transactions_csv,
    replays_a_callback,
    merchants_are_created_changed_and_rotated_by_admins,
    managers_and_viewers_cannot_administer,
    a_child_resellers_staff_sees_nothing_above_or_beside,
    admins_create_rotate_and_disable_managers,
    p2p_clients_are_the_root_resellers,
    every_action_is_in_the_audit_log_of_its_subtree,
    refund_requests_are_rejected_or_carried_out_in_scope,
    gaps_a_paid_softline_refund_request_is_carried_out_once,
    gaps_balances_are_scoped_to_the_subtree,
    gaps_payments_are_found_by_customer_email,
);
