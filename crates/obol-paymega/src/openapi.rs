//! This dialect's operations in the OpenAPI document (`/openapi.json`).

use serde_json::{Map, Value, json};

fn errors() -> Value {
    json!({
        "400": { "description": "Malformed body", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } },
        "401": { "description": "Missing or wrong credentials", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } },
        "404": { "description": "No such resource for this merchant", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } },
        "405": { "description": "Method not allowed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } },
        "422": { "description": "Invalid fields", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaFieldErrors" } } } },
        "429": { "description": "Too many failed authentications from this address or with this credential", "headers": { "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer", "minimum": 1 } } }, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } },
        "500": { "description": "Internal error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } }
    })
}

fn operation(
    summary: &str,
    security: Value,
    ok_status: &str,
    ok_schema: &str,
    extra: Value,
) -> Value {
    let mut responses = errors();
    responses[ok_status] = json!({ "description": "OK", "content": { "application/json": { "schema": { "$ref": ok_schema } } } });
    let mut operation = json!({ "summary": summary, "tags": ["Paymega"], "security": security, "responses": responses });
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            operation[key] = value;
        }
    }
    operation
}

fn json_body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": schema } } } })
}

fn path_id(description: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": description, "schema": { "type": "string", "maxLength": 64 } })
}

fn query(name: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema })
}

/// The paths of the Paymega dialect.
pub fn paths() -> Map<String, Value> {
    let basic = json!([{ "basicAuth": [] }]);
    let public = json!([{ "publicKey": [] }]);
    let none = json!([]);
    let mut paths = Map::new();
    paths.insert(
        "/public-api/payment-prerequest".into(),
        json!({ "post": operation("Services and methods for a currency", none.clone(), "200", "#/components/schemas/PaymegaPrerequest", json!({ "requestBody": json_body("#/components/schemas/PaymegaPrerequestRequest") })) }),
    );
    paths.insert(
        "/public-api/payment-invoices".into(),
        json!({ "post": operation("Create an invoice (public API)", none.clone(), "201", "#/components/schemas/PaymegaPublicInvoiceDocument", json!({ "requestBody": json_body("#/components/schemas/PaymegaPublicInvoiceRequest") })) }),
    );
    paths.insert(
        "/public-api/payment-invoices/process".into(),
        json!({ "post": {
            "summary": "Create an invoice from an HTML form and redirect to the hosted page",
            "tags": ["Paymega"],
            "security": none,
            "requestBody": { "required": true, "content": { "application/x-www-form-urlencoded": { "schema": { "$ref": "#/components/schemas/PaymegaPublicInvoiceRequest" } } } },
            "responses": {
                "303": { "description": "Redirect to the hosted page" },
                "400": { "description": "Unreadable form", "content": { "text/html": { "schema": { "type": "string" } } } },
                "401": { "description": "Unknown public key", "content": { "text/html": { "schema": { "type": "string" } } } },
                "403": { "description": "Public access forbidden", "content": { "text/html": { "schema": { "type": "string" } } } },
                "405": { "description": "Method not allowed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } },
                "422": { "description": "Invalid fields", "content": { "text/html": { "schema": { "type": "string" } } } },
                "429": { "description": "Too many unknown public keys from this address", "headers": { "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer", "minimum": 1 } } }, "content": { "text/html": { "schema": { "type": "string" } } } }
            }
        } }),
    );
    paths.insert(
        "/public-api/payment-invoices/{id}".into(),
        json!({ "get": operation("Read an invoice (public API)", public, "200", "#/components/schemas/PaymegaPublicInvoiceDocument", json!({
            "parameters": [path_id("Invoice id (cpi_…)"), { "name": "public_key", "in": "query", "required": true, "schema": { "type": "string" } }]
        })) }),
    );
    paths.insert(
        "/api/payment-services".into(),
        json!({ "get": operation("List the merchant's services", basic.clone(), "200", "#/components/schemas/PaymegaServiceList", json!({
            "parameters": [query("page[number]", json!({ "type": "integer", "minimum": 1 })), query("page[size]", json!({ "type": "integer", "minimum": 1, "maximum": 100 }))]
        })) }),
    );
    paths.insert(
        "/api/payment-services/{id}".into(),
        json!({ "get": operation("Read one of the merchant's services", basic.clone(), "200", "#/components/schemas/PaymegaServiceDocument", json!({ "parameters": [path_id("Service link id (comcps_…) or code")] })) }),
    );
    let mut create = operation(
        "Create an invoice (private API)",
        basic.clone(),
        "201",
        "#/components/schemas/PaymegaInvoiceDocument",
        json!({
            "requestBody": json_body("#/components/schemas/PaymegaInvoiceRequest"),
            "parameters": [{ "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string", "maxLength": 255 } }]
        }),
    );
    create["responses"]["409"] = json!({ "description": "The reference_id is taken; the body carries the existing invoice", "content": { "application/json": { "schema": { "type": "object" } } } });
    create["responses"]["403"] = json!({ "description": "Forbidden", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaErrorList" } } } });
    let list = operation(
        "List invoices, newest first",
        basic.clone(),
        "200",
        "#/components/schemas/PaymegaInvoiceList",
        json!({
            "parameters": [
                query("filter[reference_id]", json!({ "type": "string" })),
                query("page[size]", json!({ "type": "integer", "minimum": 1, "maximum": 100 })),
                query("page[before]", json!({ "type": "string" })),
                query("page[after]", json!({ "type": "string" }))
            ]
        }),
    );
    paths.insert(
        "/api/payment-invoices".into(),
        json!({ "get": list, "post": create }),
    );
    paths.insert(
        "/api/payment-invoices/{id}".into(),
        json!({ "get": operation("Read an invoice (private API)", basic.clone(), "200", "#/components/schemas/PaymegaInvoiceDocument", json!({ "parameters": [path_id("Invoice id (cpi_…)")] })) }),
    );
    paths.insert(
        "/api/payment-invoices/{id}/refund".into(),
        json!({ "post": operation("Refund an invoice, partly or fully", basic, "200", "#/components/schemas/PaymegaInvoiceDocument", json!({
            "parameters": [path_id("Invoice id (cpi_…)"), { "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string", "maxLength": 255 } }],
            "requestBody": { "required": false, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymegaRefundRequest" } } } }
        })) }),
    );
    paths
}

/// The schemas this dialect's operations refer to.
pub fn schemas() -> Map<String, Value> {
    let amount = json!({ "type": ["number", "string"], "description": "Decimal amount; never more fraction digits than the currency has" });
    let invoice_fields = json!({
        "reference_id": { "type": "string", "maxLength": 255 },
        "service": { "type": "string" },
        "currency": { "type": "string", "minLength": 3, "maxLength": 3 },
        "amount": amount,
        "flow": { "type": "string", "enum": ["charge", "verify"] },
        "service_fields": { "type": "object", "additionalProperties": { "type": "string" } },
        "test_mode": { "type": "boolean" },
        "description": { "type": "string", "maxLength": 1024 },
        "customer": {
            "type": "object",
            "required": ["reference_id"],
            "properties": {
                "reference_id": { "type": "string" }, "name": { "type": "string" }, "email": { "type": "string" }, "phone": { "type": "string" },
                "metadata": { "type": "object" },
                "address": { "type": "object", "properties": { "country": { "type": "string" }, "region": { "type": "string" }, "city": { "type": "string" }, "full_address": { "type": "string" }, "postcode": { "type": "string" } } }
            }
        },
        "metadata": { "type": "object" },
        "return_url": { "type": "string", "format": "uri" },
        "return_urls": { "type": "object", "required": ["pending"], "properties": { "success": { "type": "string" }, "fail": { "type": "string" }, "pending": { "type": "string" } } },
        "callback_url": { "type": "string", "format": "uri" },
        "gateway_options": { "type": "object" },
        "expires": { "type": ["string", "integer"], "description": "RFC 3339 date-time (or Unix seconds), 14 minutes to 2 days after creation" }
    });
    let mut public_fields = invoice_fields.clone();
    public_fields["public_key"] = json!({ "type": "string" });
    let errors_list = json!({ "type": "object", "required": ["errors"], "properties": { "errors": { "type": "array", "items": { "type": "object", "properties": { "status": { "type": "string" }, "code": { "type": "string" }, "title": { "type": "string" }, "detail": { "type": "string" } } } } } });
    let invoice_resource = json!({ "type": "object", "required": ["type", "id", "attributes"], "properties": { "type": { "const": "payment-invoices" }, "id": { "type": "string" }, "attributes": { "type": "object" }, "relationships": { "type": "object" }, "links": { "type": "object" } } });
    let mut schemas = Map::new();
    schemas.insert("PaymegaErrorList".into(), errors_list);
    schemas.insert("PaymegaFieldErrors".into(), json!({ "type": "object", "required": ["errors"], "properties": { "errors": { "type": "object", "additionalProperties": { "type": "string" } } } }));
    schemas.insert("PaymegaPrerequestRequest".into(), json!({ "type": "object", "required": ["public_key", "currency"], "properties": { "public_key": { "type": "string" }, "currency": { "type": "string" } } }));
    schemas.insert(
        "PaymegaPrerequest".into(),
        json!({ "type": "object", "properties": { "data": { "type": "object" } } }),
    );
    schemas.insert("PaymegaPublicInvoiceRequest".into(), json!({ "type": "object", "required": ["public_key", "service", "currency", "amount"], "properties": public_fields }));
    schemas.insert(
        "PaymegaPublicInvoiceDocument".into(),
        json!({ "type": "object", "properties": { "data": { "type": "object" } } }),
    );
    schemas.insert("PaymegaInvoiceRequest".into(), json!({
        "type": "object", "required": ["data"],
        "properties": { "data": { "type": "object", "required": ["attributes"], "properties": { "type": { "const": "payment-invoices" }, "attributes": { "type": "object", "required": ["reference_id", "service", "currency", "amount"], "properties": invoice_fields } } } }
    }));
    schemas.insert(
        "PaymegaInvoiceDocument".into(),
        json!({ "type": "object", "properties": { "data": invoice_resource.clone() } }),
    );
    schemas.insert("PaymegaInvoiceList".into(), json!({ "type": "object", "properties": { "meta": { "type": "object" }, "links": { "type": "object" }, "data": { "type": "array", "items": invoice_resource } } }));
    schemas.insert(
        "PaymegaServiceDocument".into(),
        json!({ "type": "object", "properties": { "data": { "type": "object" } } }),
    );
    schemas.insert("PaymegaServiceList".into(), json!({ "type": "object", "properties": { "meta": { "type": "object" }, "links": { "type": "object" }, "data": { "type": "array", "items": { "type": "object" } } } }));
    schemas.insert("PaymegaRefundRequest".into(), json!({ "type": "object", "properties": { "data": { "type": "object", "properties": { "type": { "const": "payment-invoices" }, "attributes": { "type": "object", "properties": { "amount": amount } } } } } }));
    schemas
}
