//! The OpenAPI 3.1 document at `/openapi.json`. Each dialect contributes its paths through
//! [`all_paths`]; every operation declares its responses and security, as fuzzing tools expect.

use std::sync::Arc;

use obol_http::door::Door;
use serde_json::{Value, json};

/// The whole document.
pub fn document(public_url: &str, doors: &[Arc<dyn Door>]) -> Value {
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Obol",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A self-hosted payment gateway speaking several payment APIs over one core.",
        },
        "servers": [{ "url": public_url }],
        "paths": all_paths(doors),
        "components": {
            "securitySchemes": {
                "basicAuth": { "type": "http", "scheme": "basic", "description": "Merchant api_login : api_secret (Paymega private API, YooKassa sandbox)." },
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": "Softline bearer token from /v1/login_check." },
                "apiToken": { "type": "apiKey", "in": "header", "name": "X-Api-Token", "description": "Manager API token (ActivePlatform)." },
                "publicKey": { "type": "apiKey", "in": "query", "name": "public_key", "description": "Merchant public key (Paymega public API)." },
                "dashboardSession": { "type": "apiKey", "in": "cookie", "name": "obol_session", "description": "A dashboard session, from signing in at /dashboard/login with a manager's API token." }
            },
            "schemas": {
                "Health": { "type": "object", "required": ["status"], "properties": { "status": { "type": "string" } } },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "object", "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } }
                }
            }
        },
        "security": []
    });
    if let Some(Value::Object(schemas)) = document.pointer_mut("/components/schemas") {
        for door in doors {
            schemas.extend(door.openapi_schemas());
        }
    }
    document
}

fn operation(summary: &str, ok: Value) -> Value {
    json!({
        "summary": summary,
        "security": [],
        "responses": {
            "200": ok,
            "405": { "description": "Method not allowed" }
        }
    })
}

/// Every path of the document: the operational endpoints and each door's.
pub fn all_paths(doors: &[Arc<dyn Door>]) -> Value {
    let mut paths = match paths() {
        Value::Object(paths) => paths,
        _ => serde_json::Map::new(),
    };
    for door in doors {
        paths.extend(door.openapi_paths());
    }
    Value::Object(paths)
}

/// The operational endpoints.
pub fn paths() -> Value {
    let health = json!({ "description": "OK", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } });
    let mut readiness = operation("Readiness: the database answers", health.clone());
    readiness["responses"]["503"] = json!({ "description": "The database does not answer", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } });
    json!({
        "/healthz": { "get": operation("Liveness", health) },
        "/readyz": { "get": readiness },
        "/metrics": { "get": operation("Prometheus metrics", json!({ "description": "Metrics in the Prometheus text format", "content": { "text/plain": { "schema": { "type": "string" } } } })) },
        "/openapi.json": { "get": operation("This document", json!({ "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } })) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_responses_and_security() {
        let doors = crate::doors::all().unwrap();
        let document = document("http://127.0.0.1:8080", &doors);
        assert_eq!(document["openapi"], "3.1.0");
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|responses| !responses.is_empty()),
                    "{method} {path}"
                );
                assert!(operation["security"].is_array(), "{method} {path}");
            }
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                for (key, inner) in object {
                    if key == "$ref" {
                        if let Some(target) = inner.as_str() {
                            out.push(target.to_owned());
                        }
                    } else {
                        collect_refs(inner, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_the_dialects_are_in() {
        let doors = crate::doors::all().unwrap();
        let document = document("http://127.0.0.1:8080", &doors);
        let mut references = Vec::new();
        collect_refs(&document, &mut references);
        assert!(!references.is_empty());
        for reference in references {
            let pointer = reference.trim_start_matches('#');
            assert!(
                document.pointer(pointer).is_some(),
                "unresolved {reference}"
            );
        }
        for path in [
            "/api/payment-invoices",
            "/api/payment-invoices/{id}/refund",
            "/public-api/payment-prerequest",
            "/public-api/payment-invoices/process",
            "/api/sessions/create",
            "/api/p2p/payments/show",
            "/api/yookassa/PaymentCommit",
            "/sandbox/yookassa/v3/payments",
            "/sandbox/yookassa/v3/refunds/{refund_id}",
        ] {
            assert!(document["paths"].get(path).is_some(), "{path}");
        }
    }

    #[test]
    fn every_route_of_every_door_is_documented() {
        let doors = crate::doors::all().unwrap();
        let document = document("http://127.0.0.1:8080", &doors);
        let mut missing = Vec::new();
        let mut count = 0;
        for door in &doors {
            for (method, path) in door.routes().table() {
                count += 1;
                let method = method.as_str().to_ascii_lowercase();
                if document["paths"][path.as_str()].get(&method).is_none() {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(count > 40, "the doors record their routes ({count})");
        assert!(missing.is_empty(), "undocumented routes: {missing:?}");
    }
}
