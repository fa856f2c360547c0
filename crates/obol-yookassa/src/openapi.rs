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
    let mut request_content = content(&request);
    request_content["application/x-www-form-urlencoded"] = json!({ "schema": request });
    let mut paths = Map::new();
    paths.insert(
        "/api/yookassa/PaymentCommit".into(),
        json!({ "post": {
            "summary": "Create a payment or a refund at a YooKassa-compatible upstream",
            "tags": ["YooKassa"],
            "security": [{ "basicAuth": [] }, { "bearerAuth": [] }],
            "requestBody": { "required": true, "content": request_content },
            "responses": {
                "200": { "description": "ErrorCode 0, or a business failure (ErrorCode 2–8)", "content": content(&response) },
                "400": { "description": "Unreadable body or a missing/invalid element (ErrorCode 1)", "content": content(&response) },
                "401": { "description": "No or wrong merchant credentials (ErrorCode 9)", "content": content(&response) },
                "405": { "description": "Method not allowed" },
                "413": { "description": "The body is larger than 1 MiB" },
                "415": { "description": "Content-Type is not JSON or XML (ErrorCode 1)", "content": content(&response) },
                "429": { "description": "Too many failed authentications (ErrorCode 11)", "headers": { "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer", "minimum": 1 } } }, "content": content(&response) },
                "500": { "description": "Internal error (ErrorCode 10)", "content": content(&response) }
            }
        } }),
    );
    paths.extend(sandbox_paths());
    paths.insert(
        "/notifications/yookassa/{route}".into(),
        notification_path(),
    );
    paths
}

/// Where YooKassa notifies a live route's shop (`[[acquirers]]`, SPEC §4): the body only names
/// the payment or refund, which Obol reads again from YooKassa.
fn notification_path() -> Value {
    let answer = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "type": "object", "required": ["status"], "properties": { "status": { "type": "string" } } } } } });
    json!({ "post": {
        "summary": "A YooKassa notification for a live route (only its object's id is read; the object is read again from YooKassa)",
        "tags": ["YooKassa"],
        "security": [],
        "parameters": [{ "name": "route", "in": "path", "required": true, "description": "The route's name in [[acquirers]]", "schema": { "type": "string" } }],
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/YooKassaNotification" } } } },
        "responses": {
            "200": answer("Applied, already applied, or about nothing Obol sent to this route"),
            "400": answer("The body is not a YooKassa notification"),
            "404": answer("No YooKassa route of that name is configured"),
            "405": { "description": "Method not allowed" },
            "413": { "description": "The body is larger than 1 MiB" },
            "503": answer("YooKassa could not be asked (or refused to show the object): notify again")
        }
    } })
}

/// The YooKassa v3-compatible sandbox upstream.
fn sandbox_paths() -> Map<String, Value> {
    let json_of = |schema: Value| json!({ "application/json": { "schema": schema } });
    let error = json!({ "$ref": "#/components/schemas/YooKassaError" });
    let payment = json!({ "$ref": "#/components/schemas/YooKassaPayment" });
    let refund = json!({ "$ref": "#/components/schemas/YooKassaRefund" });
    let key = json!({ "name": "Idempotence-Key", "in": "header", "required": false, "schema": { "type": "string", "minLength": 1, "maxLength": 64 } });
    let id = |name: &str| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } });
    let operation = |summary: &str, ok: &Value, body: Option<Value>, parameters: Vec<Value>| {
        let mut operation = json!({
            "summary": summary,
            "tags": ["YooKassa sandbox"],
            "security": [{ "basicAuth": [] }],
            "parameters": parameters,
            "responses": {
                "200": { "description": "OK", "content": json_of(ok.clone()) },
                "400": { "description": "invalid_request (also: Idempotence key duplicated)", "content": json_of(error.clone()) },
                "401": { "description": "invalid_credentials", "content": json_of(error.clone()) },
                "404": { "description": "not_found", "content": json_of(error.clone()) },
                "405": { "description": "Method not allowed", "content": json_of(error.clone()) },
                "429": { "description": "too_many_requests", "headers": { "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer", "minimum": 1 } } }, "content": json_of(error.clone()) },
                "500": { "description": "internal_server_error", "content": json_of(error.clone()) }
            }
        });
        if let Some(body) = body {
            operation["requestBody"] = json!({ "required": false, "content": json_of(body) });
        }
        operation
    };
    let object = json!({ "type": "object" });
    let mut paths = Map::new();
    let query = |name: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "schema": schema });
    let text = json!({ "type": "string" });
    let instant = json!({ "type": "string", "format": "date-time" });
    let mut list_parameters = vec![
        query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 10 }),
        ),
        query("cursor", text.clone()),
        query("status", text.clone()),
    ];
    for bound in ["gte", "gt", "lte", "lt"] {
        list_parameters.push(query(&format!("created_at.{bound}"), instant.clone()));
    }
    let list_of = |item: &Value| json!({ "type": "object", "required": ["type", "items"], "properties": { "type": { "type": "string", "enum": ["list"] }, "items": { "type": "array", "items": item }, "next_cursor": { "type": "string" } } });
    let mut refund_parameters = list_parameters.clone();
    refund_parameters.push(query("payment_id", text));
    paths.insert("/sandbox/yookassa/v3/payments".into(), json!({
        "post": operation("Create a payment", &payment, Some(json!({ "$ref": "#/components/schemas/YooKassaPaymentRequest" })), vec![key.clone()]),
        "get": operation("List the shop's payments, newest first", &list_of(&payment), None, list_parameters),
    }));
    paths.insert(
        "/sandbox/yookassa/v3/payments/{payment_id}".into(),
        json!({ "get": operation("Read a payment", &payment, None, vec![id("payment_id")]) }),
    );
    paths.insert("/sandbox/yookassa/v3/payments/{payment_id}/capture".into(), json!({ "post": operation("Capture a waiting_for_capture payment", &payment, Some(object.clone()), vec![id("payment_id"), key.clone()]) }));
    paths.insert("/sandbox/yookassa/v3/payments/{payment_id}/cancel".into(), json!({ "post": operation("Cancel a waiting_for_capture payment", &payment, Some(object), vec![id("payment_id"), key.clone()]) }));
    paths.insert("/sandbox/yookassa/v3/refunds".into(), json!({
        "post": operation("Refund a succeeded payment", &refund, Some(json!({ "$ref": "#/components/schemas/YooKassaRefundRequest" })), vec![key]),
        "get": operation("List the refunds of the shop's payments, newest first", &list_of(&refund), None, refund_parameters),
    }));
    paths.insert(
        "/sandbox/yookassa/v3/refunds/{refund_id}".into(),
        json!({ "get": operation("Read a refund", &refund, None, vec![id("refund_id")]) }),
    );
    paths.insert(
        "/sandbox/yookassa/confirmation/{confirmation_token}".into(),
        json!({ "get": {
            "summary": "Open the hosted page of a payment (the embedded widget's stand-in)",
            "tags": ["YooKassa sandbox"],
            "security": [],
            "parameters": [id("confirmation_token")],
            "responses": {
                "303": { "description": "To the payment's hosted page" },
                "404": { "description": "Unknown or expired token", "content": json_of(error.clone()) }
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
    let amount = json!({ "type": "object", "required": ["value", "currency"], "properties": { "value": { "type": ["string", "number"] }, "currency": { "type": "string" } } });
    schemas.insert("YooKassaAmount".into(), amount);
    schemas.insert(
        "YooKassaNotification".into(),
        json!({ "type": "object", "required": ["type", "event", "object"], "properties": {
            "type": { "const": "notification" },
            "event": { "type": "string", "examples": ["payment.succeeded", "payment.waiting_for_capture", "payment.canceled", "refund.succeeded"] },
            "object": { "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } } } }),
    );
    schemas.insert(
        "YooKassaError".into(),
        json!({ "type": "object", "required": ["type", "id", "code"], "properties": {
            "type": { "const": "error" }, "id": { "type": "string" }, "code": { "type": "string" },
            "description": { "type": "string" }, "parameter": { "type": "string" } } }),
    );
    schemas.insert(
        "YooKassaPaymentRequest".into(),
        json!({ "type": "object", "required": ["amount"], "properties": {
            "amount": { "$ref": "#/components/schemas/YooKassaAmount" },
            "capture": { "type": "boolean" },
            "confirmation": { "type": "object", "properties": { "type": { "enum": ["embedded", "redirect"] }, "return_url": { "type": "string" }, "locale": { "type": "string" } } },
            "description": { "type": "string", "maxLength": 128 },
            "metadata": { "type": "object" } } }),
    );
    schemas.insert(
        "YooKassaPayment".into(),
        json!({ "type": "object", "required": ["id", "status", "amount", "recipient", "created_at", "test", "paid", "refundable"], "properties": {
            "id": { "type": "string" },
            "status": { "enum": ["pending", "waiting_for_capture", "succeeded", "canceled"] },
            "amount": { "$ref": "#/components/schemas/YooKassaAmount" },
            "income_amount": { "$ref": "#/components/schemas/YooKassaAmount" },
            "refunded_amount": { "$ref": "#/components/schemas/YooKassaAmount" },
            "description": { "type": ["string", "null"] },
            "recipient": { "type": "object" },
            "confirmation": { "type": "object" },
            "payment_method": { "type": "object" },
            "cancellation_details": { "type": "object" },
            "captured_at": { "type": "string" }, "created_at": { "type": "string" }, "expires_at": { "type": "string" },
            "test": { "type": "boolean" }, "paid": { "type": "boolean" }, "refundable": { "type": "boolean" },
            "metadata": { "type": "object" } } }),
    );
    schemas.insert(
        "YooKassaRefundRequest".into(),
        json!({ "type": "object", "required": ["payment_id", "amount"], "properties": {
            "payment_id": { "type": "string" }, "amount": { "$ref": "#/components/schemas/YooKassaAmount" },
            "description": { "type": "string" } } }),
    );
    schemas.insert(
        "YooKassaRefund".into(),
        json!({ "type": "object", "required": ["id", "payment_id", "status", "amount", "created_at"], "properties": {
            "id": { "type": "string" }, "payment_id": { "type": "string" }, "status": { "enum": ["succeeded", "canceled"] },
            "amount": { "$ref": "#/components/schemas/YooKassaAmount" }, "created_at": { "type": "string" } } }),
    );
    schemas
}
