//! `PaymentCommit` in the OpenAPI document.

use serde_json::{Map, Value, json};

pub fn paths() -> Map<String, Value> {
    let request = json!({ "$ref": "#/components/schemas/YooKassaPaymentCommitRequest" });
    let response = json!({ "$ref": "#/components/schemas/YooKassaPaymentCommitResponse" });
    let content = |schema: &Value| {
        json!({
            "application/json": { "schema": schema },
            "text/json": { "schema": schema },
            "application/xml": { "schema": schema },
            "text/xml": { "schema": schema }
        })
    };
    let mut paths = Map::new();
    paths.insert(
        "/api/yookassa/PaymentCommit".into(),
        json!({ "post": {
            "summary": "Create a payment or a refund at a YooKassa-compatible upstream",
            "tags": ["YooKassa"],
            "security": [{ "basicAuth": [] }, { "bearerAuth": [] }],
            "requestBody": { "required": true, "content": content(&request) },
            "responses": {
                "200": { "description": "ErrorCode 0, or a business failure (ErrorCode 2–8)", "content": content(&response) },
                "400": { "description": "Unreadable body or a missing/invalid element (ErrorCode 1)", "content": content(&response) },
                "401": { "description": "No or wrong merchant credentials (ErrorCode 9)", "content": content(&response) },
                "405": { "description": "Method not allowed" },
                "413": { "description": "The body is larger than 1 MiB" },
                "415": { "description": "Content-Type is not JSON or XML (ErrorCode 1)", "content": content(&response) },
                "500": { "description": "Internal error (ErrorCode 10)", "content": content(&response) }
            }
        } }),
    );
    paths
}

pub fn schemas() -> Map<String, Value> {
    let text = json!({ "type": ["string", "null"] });
    let mut schemas = Map::new();
    schemas.insert(
        "YooKassaPaymentCommitRequest".into(),
        json!({ "type": "object", "properties": {
            "Refund": { "type": "boolean" },
            "Amount": { "type": ["number", "string"], "description": "roubles, at most two decimals" },
            "Description": text,
            "PaymentRefund": text,
            "ApiParams": { "type": "object", "properties": {
                "Url": { "type": "string" }, "Login": { "type": "string" },
                "Password": { "type": "string" }, "IdempotenceKey": { "type": "string", "maxLength": 64 }
            } }
        } }),
    );
    schemas.insert(
        "YooKassaPaymentCommitResponse".into(),
        json!({ "type": "object", "properties": {
            "PaymentId": text, "RefundId": text, "Status": text, "ConfirmationToken": text,
            "IdempotenceKey": text, "ErrorCode": { "type": "integer" }, "Message": text
        } }),
    );
    schemas
}
