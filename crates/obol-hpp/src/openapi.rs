//! The hosted payment page in the OpenAPI document: HTML for browsers, documented so tools
//! know the routes exist.

use serde_json::{Map, Value, json};

/// The hosted page's operations.
pub fn paths() -> Map<String, Value> {
    let html = |description: &str| json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } });
    let cpi =
        json!({ "name": "cpi", "in": "query", "required": true, "schema": { "type": "string" } });
    let page = |summary: &str| {
        json!({
            "summary": summary, "tags": ["Hosted page"], "security": [],
            "parameters": [cpi.clone(), { "name": "lang", "in": "query", "required": false, "schema": { "type": "string", "enum": ["en", "ru", "uk"] } }],
            "responses": { "200": html("The page"), "404": html("No such payment"), "405": { "description": "Method not allowed" } }
        })
    };
    let form = |summary: &str, fields: Value| {
        json!({
            "summary": summary, "tags": ["Hosted page"], "security": [], "parameters": [cpi.clone()],
            "requestBody": { "required": true, "content": { "application/x-www-form-urlencoded": { "schema": { "type": "object", "required": ["csrf_token"], "properties": fields } } } },
            "responses": { "303": { "description": "To the result page or the merchant's return URL" }, "400": html("Unreadable form"), "403": html("Missing or wrong CSRF token"), "404": html("No such payment"), "409": html("The payment is no longer open"), "422": html("Invalid card details") }
        })
    };
    let mut paths = Map::new();
    let mut entry =
        page("The payment page (or, with public_key, amount and currency, Corefy's checkout)");
    entry["parameters"][0]["required"] = json!(false);
    paths.insert("/hpp".into(), json!({ "get": entry.clone() }));
    paths.insert("/hpp/".into(), json!({ "get": entry }));
    paths.insert(
        "/hpp/result".into(),
        json!({ "get": page("The result page") }),
    );
    paths.insert(
        "/hpp/3ds".into(),
        json!({ "get": page("The 3-D Secure challenge"), "post": form("Answer the 3-D Secure challenge", json!({ "csrf_token": { "type": "string" }, "decision": { "type": "string", "enum": ["approve", "reject"] } })) }),
    );
    paths.insert(
        "/hpp/pay".into(),
        json!({ "post": form("Pay by card", json!({
            "csrf_token": { "type": "string" }, "card_number": { "type": "string" }, "card_expiry": { "type": "string" }, "card_cvv": { "type": "string" }, "card_holder": { "type": "string" }
        })) }),
    );
    let mut choose = form(
        "Choose a payment method (a live route's card service: 303 to the provider's confirmation page)",
        json!({ "csrf_token": { "type": "string" }, "service": { "type": "string" } }),
    );
    choose["responses"]["502"] =
        html("The live route's provider could not be reached or refused; nothing moved");
    paths.insert("/hpp/choose".into(), json!({ "post": choose }));
    let mut back = page(
        "Where a live route's provider sends the customer back: the outcome is read from the provider",
    );
    back["responses"] = json!({
        "303": { "description": "To the merchant's return URL for the outcome, else the result page" },
        "404": html("No such payment"),
        "405": { "description": "Method not allowed" }
    });
    paths.insert("/hpp/return".into(), json!({ "get": back }));
    paths.insert("/hpp/test".into(), json!({ "post": form("Submit the test method's fields", json!({ "csrf_token": { "type": "string" }, "status": { "type": "string" } })) }));
    paths
}
