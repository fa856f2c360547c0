//! This dialect's operations in the OpenAPI document.

use serde_json::{Map, Value, json};

const MEDIA: &str = "application/vnd.api+json";

fn operation(summary: &str, ok: &str, body: bool, parameters: Value) -> Value {
    let error =
        json!({ MEDIA: { "schema": { "$ref": "#/components/schemas/ActivePlatformError" } } });
    let mut responses = json!({
        "400": { "description": "Invalid request", "content": error },
        "401": { "description": "No or unknown X-Api-Token", "content": error },
        "403": { "description": "The role does not allow it", "content": error },
        "404": { "description": "Outside the manager's scope, or no such resource", "content": error },
        "405": { "description": "Method not allowed", "content": error },
        "406": { "description": "Accept is not application/vnd.api+json", "content": error },
        "422": { "description": "Unprocessable", "content": error },
        "429": { "description": "Too many failed authentications from this address or with this token", "headers": { "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer", "minimum": 1 } } }, "content": error }
    });
    responses[ok] =
        json!({ "description": "OK", "content": { MEDIA: { "schema": { "type": "object" } } } });
    if body {
        responses["415"] = json!({ "description": "Content-Type is not application/vnd.api+json", "content": error });
    }
    let mut operation = json!({ "summary": summary, "tags": ["ActivePlatform"], "security": [{ "apiToken": [] }], "parameters": parameters, "responses": responses });
    if body {
        operation["requestBody"] = json!({ "required": true, "content": { MEDIA: { "schema": { "$ref": "#/components/schemas/ActivePlatformDocument" } } } });
    }
    operation
}

fn path(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } })
}

fn query(name: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" } })
}

pub fn paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        "/api/v3/managers/me".into(),
        json!({ "get": operation("The calling manager", "200", false, json!([])) }),
    );
    paths.insert("/api/v3/resellers/{reseller_id}".into(), json!({ "get": operation("A reseller in the manager's scope", "200", false, json!([path("reseller_id")])) }));
    paths.insert(
        "/api/v3/resellers/{reseller_id}/payment_methods".into(),
        json!({ "get": operation("Payment methods", "200", false, json!([path("reseller_id")])) }),
    );
    paths.insert(
        "/api/v3/resellers/{reseller_id}/payments".into(),
        json!({
            "get": operation("The reseller's payments", "200", false, json!([
                path("reseller_id"), query("page[size]"), query("page[number]"), query("sort"), query("filter[status]"), query("filter[account_id]"),
                query("filter[created_at][gt]"), query("filter[created_at][lt]")
            ])),
            "post": operation("Create a payment", "201", true, json!([path("reseller_id")]))
        }),
    );
    paths.insert(
        "/api/v3/resellers/{reseller_id}/payments/{payment_id}".into(),
        json!({
            "get": operation("Read a payment", "200", false, json!([path("reseller_id"), path("payment_id"), query("include")])),
            "patch": operation("Complete a payment by its id", "200", true, json!([path("reseller_id"), path("payment_id")])),
            "post": operation("Complete a payment by its document number (the path's second id is the document number)", "200", true, json!([path("reseller_id"), path("payment_id")]))
        }),
    );
    paths
}

pub fn schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert(
        "ActivePlatformError".into(),
        json!({ "type": "object", "required": ["errors"], "properties": { "errors": { "type": "object", "properties": { "title": { "type": "string" }, "status": { "type": "string" } } } } }),
    );
    schemas.insert(
        "ActivePlatformDocument".into(),
        json!({ "type": "object", "required": ["data"], "properties": { "data": { "type": "object", "required": ["attributes"], "properties": { "attributes": { "type": "object" } } } } }),
    );
    schemas
}
