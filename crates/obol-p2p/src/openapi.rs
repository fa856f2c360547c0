//! This dialect's operations in the OpenAPI document: every call is a `POST` of the RPC
//! envelope, answered HTTP 200 with `status` 1 or 0 (business errors), or 400/404/405/409/422/
//! 500 with the same error envelope for transport faults and idempotency conflicts.

use serde_json::{Map, Value, json};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/P2pError" } } } })
}

fn operation(summary: &str, request: &str, data: Value, idempotent: bool) -> Value {
    let mut operation = json!({
        "summary": summary,
        "tags": ["P2P"],
        "security": [],
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [
            { "$ref": format!("#/components/schemas/{request}") },
            { "$ref": "#/components/schemas/P2pSignedRequest" }
        ] } } } },
        "responses": {
            "200": { "description": "`status` 1 with `data`, or `status` 0 with a business error", "content": { "application/json": { "schema": { "oneOf": [
                { "type": "object", "required": ["status", "data"], "properties": { "status": { "const": 1 }, "data": data } },
                { "$ref": "#/components/schemas/P2pError" }
            ] } } } },
            "400": error_response("The body is not a readable envelope (INVALID_REQUEST) or the Idempotency-Key is malformed"),
            "405": error_response("Every method is called with POST"),
            "413": { "description": "The body is larger than 1 MiB" },
            "500": error_response("Internal error")
        }
    });
    if idempotent {
        operation["parameters"] = json!([{ "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string", "minLength": 1, "maxLength": 255 } }]);
        operation["responses"]["409"] = error_response(
            "A request with this Idempotency-Key is still in progress, or a concurrent change",
        );
        operation["responses"]["422"] =
            error_response("The Idempotency-Key was used with another request");
    }
    operation
}

pub fn paths() -> Map<String, Value> {
    let transfer = json!({ "$ref": "#/components/schemas/P2pTransfer" });
    let card = json!({ "$ref": "#/components/schemas/P2pCard" });
    let mut paths = Map::new();
    let mut add = |path: &str, summary: &str, request: &str, data: Value, idempotent: bool| {
        paths.insert(
            path.into(),
            json!({ "post": operation(summary, request, data, idempotent) }),
        );
    };
    add(
        "/api/sessions/create",
        "Open a session for a client",
        "P2pSessionRequest",
        json!({ "type": "object", "required": ["id", "expiresAt"], "properties": { "id": { "type": "string", "format": "uuid" }, "expiresAt": { "type": "string" } } }),
        false,
    );
    add(
        "/api/p2p/cards/add",
        "Store a card (PCI-compliant clients)",
        "P2pCardAddRequest",
        card.clone(),
        false,
    );
    add(
        "/api/p2p/cards/list",
        "List the client's cards (a user's session: the user's cards)",
        "P2pSessionOnlyRequest",
        json!({ "type": "array", "items": card }),
        false,
    );
    add(
        "/api/p2p/cards/form",
        "A link to the hosted card form: one card, 15 minutes, no session in it",
        "P2pSessionOnlyRequest",
        json!({ "type": "object", "required": ["url", "expiresAt"], "properties": { "url": { "type": "string", "format": "uri" }, "expiresAt": { "type": "string" } } }),
        false,
    );
    add(
        "/api/p2p/payments/create",
        "Create a DIRECT or BUCKET transfer",
        "P2pCreateRequest",
        transfer.clone(),
        true,
    );
    add(
        "/api/p2p/payments/confirm",
        "Confirm a LOOKUP transfer with the one-time code",
        "P2pConfirmRequest",
        transfer.clone(),
        true,
    );
    add(
        "/api/p2p/payments/receive",
        "Receive (part of) a BUCKET transfer",
        "P2pReceiveRequest",
        transfer.clone(),
        true,
    );
    add(
        "/api/p2p/payments/show",
        "Show a transfer and its operations",
        "P2pShowRequest",
        transfer,
        false,
    );
    paths.extend(page_paths());
    paths
}

pub fn schemas() -> Map<String, Value> {
    let session_params = json!({ "type": "object", "required": ["sessionId"], "properties": { "sessionId": { "type": "string", "format": "uuid" } } });
    let card_ref = json!({ "type": "object", "required": ["id"], "properties": { "id": { "type": "string", "format": "uuid" } } });
    let operation = json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" }, "externalId": { "type": ["string", "null"] },
        "amount": { "type": "integer" }, "commissionAmount": { "type": "integer" },
        "status": { "enum": ["PROCESSING", "FINISHED", "REJECTED"] }, "type": { "enum": ["SEND", "RECEIVE", "RETURN"] },
        "createdAt": { "type": "string" } } });
    let entries = [
        (
            "P2pError",
            json!({ "type": "object", "required": ["status", "error"], "properties": { "status": { "const": 0 }, "error": { "type": "object", "required": ["code", "message"], "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } } }),
        ),
        (
            "P2pSignedRequest",
            json!({ "type": "object", "required": ["token"], "properties": { "token": { "type": "string", "description": "JWT HS256 over {params, data, iat} signed with the client's signing key" } } }),
        ),
        (
            "P2pSessionRequest",
            json!({ "type": "object", "required": ["params"], "properties": { "params": { "type": "object", "required": ["clientId"], "properties": { "clientId": { "type": "string", "format": "uuid" },
            "userId": { "type": "string", "minLength": 1, "maxLength": 64, "description": "the client's id of the end user the session acts for (no whitespace or control characters)" } } } } }),
        ),
        (
            "P2pSessionOnlyRequest",
            json!({ "type": "object", "required": ["params"], "properties": { "params": session_params.clone(), "data": { "type": "object" } } }),
        ),
        (
            "P2pCardAddRequest",
            json!({ "type": "object", "required": ["params", "data"], "properties": { "params": session_params.clone(), "data": { "type": "object", "required": ["pan", "expiry"], "properties": {
            "pan": { "type": "string", "pattern": "^[0-9 -]{12,23}$" }, "expiry": { "type": "string", "pattern": "^[0-9]{1,2}/[0-9]{2}$" }, "holder": { "type": "string", "maxLength": 64 } } } } }),
        ),
        (
            "P2pCreateRequest",
            json!({ "type": "object", "required": ["params", "data"], "properties": { "params": session_params.clone(), "data": { "type": "object", "required": ["cardFrom", "amount", "type"], "properties": {
            "externalId": { "type": "string", "maxLength": 128 },
            "cardFrom": { "type": "object", "required": ["id", "securityCode"], "properties": { "id": { "type": "string", "format": "uuid" }, "securityCode": { "type": ["string", "integer"] } } },
            "cardTo": card_ref.clone(),
            "amount": { "type": "integer", "minimum": 1, "description": "minor units (kopecks)" },
            "currency": { "type": ["integer", "string"], "description": "ISO 4217 numeric (980) or alpha-3 (UAH); UAH when absent" },
            "description": { "type": "string", "maxLength": 1024 },
            "callbackUrl": { "type": "string", "format": "uri" },
            "type": { "enum": ["DIRECT", "BUCKET"] } } } } }),
        ),
        (
            "P2pConfirmRequest",
            json!({ "type": "object", "required": ["params"], "properties": { "params": { "type": "object", "required": ["sessionId", "id", "code"], "properties": {
            "sessionId": { "type": "string", "format": "uuid" }, "id": { "type": "string", "format": "uuid" }, "code": { "type": "string" } } }, "data": { "type": "object" } } }),
        ),
        (
            "P2pReceiveRequest",
            json!({ "type": "object", "required": ["params", "data"], "properties": { "params": { "type": "object", "required": ["sessionId", "id"], "properties": {
            "sessionId": { "type": "string", "format": "uuid" }, "id": { "type": "string", "format": "uuid" } } },
            "data": { "type": "object", "required": ["cardTo", "amount"], "properties": { "cardTo": card_ref, "amount": { "type": "integer", "minimum": 1 }, "externalId": { "type": "string" } } } } }),
        ),
        (
            "P2pShowRequest",
            json!({ "type": "object", "required": ["params"], "properties": { "params": { "type": "object", "required": ["sessionId"], "properties": {
            "sessionId": { "type": "string", "format": "uuid" }, "id": { "type": "string", "format": "uuid" }, "receiptId": { "type": "string", "pattern": "^[0-9A-Z]{12}$" } } }, "data": { "type": "object" } } }),
        ),
        (
            "P2pCard",
            json!({ "type": "object", "required": ["cardId", "panMasked"], "properties": {
            "cardId": { "type": "string", "format": "uuid" }, "id": { "type": "string", "format": "uuid" }, "panMasked": { "type": "string", "description": "first 6 and last 4 digits" },
            "brand": { "type": "string" }, "expiry": { "type": "string" }, "holder": { "type": ["string", "null"] }, "createdAt": { "type": "string" } } }),
        ),
        (
            "P2pTransfer",
            json!({ "type": "object", "properties": {
            "id": { "type": "string", "format": "uuid" }, "receiptId": { "type": "string" }, "externalId": { "type": ["string", "null"] },
            "type": { "enum": ["DIRECT", "BUCKET"] }, "status": { "enum": ["NEEDS_CONFIRMATION", "PROCESSING", "FINISHED", "REJECTED", "RETURNED"] },
            "description": { "type": ["string", "null"] }, "callbackUrl": { "type": ["string", "null"] },
            "amount": { "type": "integer" }, "currency": { "type": "integer" }, "pendingAmount": { "type": "integer" }, "commissionAmount": { "type": "integer" },
            "returnAmount": { "type": ["integer", "null"] }, "returnCommissionAmount": { "type": ["integer", "null"] },
            "cardFromId": { "type": "string" }, "cardToId": { "type": ["string", "null"] }, "cardFromMasked": { "type": "string" }, "cardToMasked": { "type": ["string", "null"] },
            "createdAt": { "type": "string" }, "operations": { "type": "array", "items": operation },
            "confirmation": { "type": "object", "properties": { "url": { "type": "string" }, "type": { "enum": ["3DS", "LOOKUP"] } } } } }),
        ),
    ];
    entries
        .into_iter()
        .map(|(name, schema)| (name.to_owned(), schema))
        .collect()
}

/// The P2P pages: HTML for browsers (the sender's confirmation, the hosted card form).
fn page_paths() -> Map<String, Value> {
    let html = |description: &str| json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } });
    let page = |summary: &str, parameters: Value| {
        json!({ "summary": summary, "tags": ["P2P"], "security": [], "parameters": parameters,
            "responses": { "200": html("The page"), "303": { "description": "On to the next page" }, "400": html("Unreadable form"), "403": html("Missing or wrong CSRF token"), "404": html("No such transfer, or the link is unknown, used or out of date") } })
    };
    let id = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }]);
    let token = json!([{ "name": "token", "in": "query", "required": true, "schema": { "type": "string", "maxLength": 256 } }]);
    let mut paths = Map::new();
    paths.insert(
        "/p2p/confirm/{id}".into(),
        json!({ "get": page("The sender's confirmation (3-D Secure or one-time code)", id.clone()),
                "post": page("Answer the confirmation", id) }),
    );
    paths.insert(
        "/p2p/cards/new".into(),
        json!({ "get": page("The hosted card form", token.clone()), "post": page("Add the card", token.clone()) }),
    );
    paths.insert(
        "/p2p/cards/added".into(),
        json!({ "get": page("The card was added", token) }),
    );
    paths
}
