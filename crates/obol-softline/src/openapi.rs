//! This dialect's operations in the OpenAPI document.

use serde_json::{Map, Value, json};

fn errors() -> Value {
    let body = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/SoftlineErrors" } } });
    json!({
        "400": { "description": "Invalid request (codes 110, 111, 6000, 6010–6100, 6200–6220)", "content": body },
        "401": { "description": "Invalid token (1007)", "content": body },
        "404": { "description": "Not found", "content": body },
        "405": { "description": "Method not allowed", "content": body },
        "429": { "description": "Too many failed authentications (1009)", "headers": { "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer", "minimum": 1 } } }, "content": body },
        "500": { "description": "Request error", "content": body }
    })
}

fn operation(summary: &str, bearer: bool, request: Option<&str>, ok_schema: Value) -> Value {
    let mut responses = errors();
    responses["200"] =
        json!({ "description": "OK", "content": { "application/json": { "schema": ok_schema } } });
    let mut operation = json!({
        "summary": summary,
        "tags": ["Softline"],
        "security": if bearer { json!([{ "bearerAuth": [] }]) } else { json!([]) },
        "responses": responses,
    });
    if let Some(schema) = request {
        operation["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": schema } } } });
    }
    operation
}

fn order_id() -> Value {
    json!({ "name": "order_id", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } })
}

pub fn paths() -> Map<String, Value> {
    let object = json!({ "type": "object" });
    let mut paths = Map::new();
    paths.insert("/v1/login_check".into(), json!({ "post": operation("Get a bearer token", false, Some("#/components/schemas/SoftlineLogin"), json!({ "$ref": "#/components/schemas/SoftlineTokens" })) }));
    paths.insert("/v1/token/refresh".into(), json!({ "post": operation("Refresh a bearer token", false, Some("#/components/schemas/SoftlineRefresh"), json!({ "$ref": "#/components/schemas/SoftlineTokens" })) }));
    paths.insert("/v1/payment".into(), json!({ "post": operation("Create a payment", true, Some("#/components/schemas/SoftlinePayment"), json!({ "$ref": "#/components/schemas/SoftlinePaymentCreated" })) }));
    paths.insert(
        "/v1/payment/card/verification".into(),
        json!({ "post": operation("Verify the card of a zero-amount recurring parent", true, Some("#/components/schemas/SoftlineOrderReference"), json!({ "$ref": "#/components/schemas/SoftlinePaymentCreated" })) }),
    );
    let mut order = operation("Read an order", true, None, object.clone());
    order["parameters"] = json!([order_id()]);
    paths.insert("/v1/order/{order_id}".into(), json!({ "get": order }));
    let mut refund = operation(
        "Ask for a refund",
        true,
        Some("#/components/schemas/SoftlineRefundRequest"),
        object,
    );
    refund["parameters"] = json!([order_id()]);
    paths.insert(
        "/v1/order/{order_id}/refund".into(),
        json!({ "post": refund }),
    );
    paths.insert(
        "/order/status/{order_id}/{hash}".into(),
        json!({ "get": {
            "summary": "The payment link: the hosted page while unpaid, the shop once paid",
            "tags": ["Softline"],
            "security": [],
            "parameters": [order_id(), { "name": "hash", "in": "path", "required": true, "schema": { "type": "string" } }, { "name": "lang", "in": "query", "required": false, "schema": { "type": "string" } }],
            "responses": { "303": { "description": "To the hosted page or the shop" }, "404": { "description": "Wrong order or hash" }, "405": { "description": "Method not allowed" } }
        } }),
    );
    paths
}

pub fn schemas() -> Map<String, Value> {
    let text = |max: u32| json!({ "type": "string", "maxLength": max });
    let mut schemas = Map::new();
    schemas.insert("SoftlineErrors".into(), json!({ "type": "object", "required": ["errors"], "properties": { "errors": { "type": "array", "items": { "type": "object", "properties": { "error": { "type": "integer" }, "message": { "type": "string" } } } } } }));
    schemas.insert("SoftlineLogin".into(), json!({ "type": "object", "required": ["username", "password"], "properties": { "username": { "type": "string" }, "password": { "type": "string" } } }));
    schemas.insert("SoftlineRefresh".into(), json!({ "type": "object", "required": ["refresh_token"], "properties": { "refresh_token": { "type": "string" } } }));
    schemas.insert("SoftlineTokens".into(), json!({ "type": "object", "properties": { "token": { "type": "string" }, "refresh_token": { "type": "string" } } }));
    schemas.insert("SoftlinePaymentCreated".into(), json!({ "type": "object", "properties": { "payment_url": { "type": "string" }, "order_id": { "type": "integer" } } }));
    schemas.insert("SoftlineOrderReference".into(), json!({ "type": "object", "required": ["order_id"], "properties": { "order_id": { "type": ["integer", "string"] } } }));
    schemas.insert(
        "SoftlineRefundRequest".into(),
        json!({ "type": "object", "properties": { "description": text(255), "email": text(255) } }),
    );
    schemas.insert(
        "SoftlinePayment".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["currency", "amount", "return_success_url", "payment_method", "payment_id", "customer"],
            "properties": {
                "currency": { "type": "string", "minLength": 3, "maxLength": 3 },
                "amount": { "type": ["number", "string"] },
                "return_success_url": text(255),
                "payment_method": { "type": "string", "enum": ["CreditCard", "LegalEntityInvoice"] },
                "recurring_indicator": { "type": "boolean" },
                "payment_id": { "type": "string", "pattern": "^[0-9A-Za-z_-]+$", "maxLength": 255 },
                "payment_description": text(255),
                "locale": { "type": "string" },
                "customer": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["email", "first_name", "last_name"],
                    "properties": {
                        "email": text(255), "first_name": text(255), "last_name": text(255), "phone": text(255), "company_name": text(255),
                        "vat_number": { "type": "string", "pattern": "^([0-9]{10}|[0-9]{12})$" }, "company_billing_address": text(255),
                        "company_delivery_address": text(255), "kpp": { "type": "string", "pattern": "^[0-9]{9}$" }
                    }
                },
                "additional_data": { "type": "object" }
            }
        }),
    );
    schemas
}
