//! Paymega's request bodies read into an [`InvoiceRequest`]: the flat public body, the private
//! API's JSON:API `data.attributes`, and the HTML form's bracketed keys. Wrong types are field
//! errors (422); a body that is not the expected shape at all is a 400.

use std::collections::BTreeMap;

use obol_core::Timestamp;
use obol_core::customer::{Address, CustomerDraft};
use serde_json::{Map, Value};

use super::errors::PaymegaError;
use crate::invoices::{InvoiceRequest, Problem, ReturnUrlsRequest};

/// Collects type problems while reading fields, so all are reported at once.
#[derive(Default)]
pub struct Reader {
    pub problems: Vec<(String, Problem)>,
}

impl Reader {
    fn invalid(&mut self, field: &str) {
        self.problems.push((field.to_owned(), Problem::Invalid));
    }

    pub fn string(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Option<String> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.invalid(field);
                None
            }
        }
    }

    /// Decimal text of a number given as a JSON number or a numeric string.
    pub fn decimal(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Option<String> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => Some(number.to_string()),
            Some(Value::String(text)) => Some(text.trim().to_owned()),
            Some(_) => {
                self.invalid(field);
                Some(String::from("invalid"))
            }
        }
    }

    fn boolean(&mut self, object: &Map<String, Value>, key: &str) -> Option<bool> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(value)) => Some(*value),
            Some(_) => {
                self.invalid(key);
                None
            }
        }
    }

    fn object<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Option<&'a Map<String, Value>> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(inner)) => Some(inner),
            Some(_) => {
                self.invalid(field);
                None
            }
        }
    }

    /// An object kept as JSON text (metadata, gateway options).
    fn json_object(&mut self, object: &Map<String, Value>, key: &str) -> Option<String> {
        self.object(object, key, key)
            .map(|inner| Value::Object(inner.clone()).to_string())
    }

    fn timestamp(&mut self, object: &Map<String, Value>, key: &str) -> Option<Timestamp> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            // The HTML form and the checkout give Unix seconds as text.
            Some(Value::String(text))
                if !text.is_empty()
                    && text.len() <= 12
                    && text.bytes().all(|byte| byte.is_ascii_digit()) =>
            {
                text.parse().ok().map(Timestamp::from_unix_seconds)
            }
            Some(Value::String(text)) => Timestamp::parse_rfc3339(text).or_else(|| {
                self.invalid(key);
                None
            }),
            Some(Value::Number(number)) => match number.as_i64() {
                Some(seconds) if (0..=253_402_300_799).contains(&seconds) => {
                    Some(Timestamp::from_unix_seconds(seconds))
                }
                _ => {
                    self.invalid(key);
                    None
                }
            },
            Some(_) => {
                self.invalid(key);
                None
            }
        }
    }
}

/// Reads an invoice from a JSON object (the public flat body or the private attributes).
pub fn invoice_from_object(object: &Map<String, Value>) -> Result<InvoiceRequest, PaymegaError> {
    let mut reader = Reader::default();
    let mut request = InvoiceRequest {
        reference_id: reader.string(object, "reference_id", "reference_id"),
        service: reader.string(object, "service", "service"),
        currency: reader
            .string(object, "currency", "currency")
            .unwrap_or_default(),
        amount: reader
            .decimal(object, "amount", "amount")
            .unwrap_or_default(),
        flow: reader.string(object, "flow", "flow"),
        test_mode: reader.boolean(object, "test_mode"),
        description: reader.string(object, "description", "description"),
        metadata: reader.json_object(object, "metadata"),
        return_url: reader.string(object, "return_url", "return_url"),
        callback_url: reader.string(object, "callback_url", "callback_url"),
        gateway_options: reader.json_object(object, "gateway_options"),
        expires: reader.timestamp(object, "expires"),
        locale: reader.string(object, "locale", "locale"),
        ..InvoiceRequest::default()
    };
    if let Some(fields) = reader.object(object, "service_fields", "service_fields") {
        let mut values = BTreeMap::new();
        for (key, value) in fields {
            match value {
                Value::String(text) => {
                    values.insert(key.clone(), text.clone());
                }
                Value::Number(number) => {
                    values.insert(key.clone(), number.to_string());
                }
                _ => reader.invalid(&format!("service_fields.{key}")),
            }
        }
        request.service_fields_json = Some(Value::Object(fields.clone()).to_string());
        request.service_fields = values;
    }
    if let Some(urls) = reader.object(object, "return_urls", "return_urls") {
        request.return_urls = Some(ReturnUrlsRequest {
            success: reader.string(urls, "success", "return_urls.success"),
            fail: reader.string(urls, "fail", "return_urls.fail"),
            pending: reader.string(urls, "pending", "return_urls.pending"),
        });
    }
    if let Some(customer) = reader.object(object, "customer", "customer") {
        let address = reader
            .object(customer, "address", "customer.address")
            .cloned()
            .unwrap_or_default();
        request.customer = Some(CustomerDraft {
            reference_id: reader
                .string(customer, "reference_id", "customer.reference_id")
                .unwrap_or_default(),
            name: reader.string(customer, "name", "customer.name"),
            email: reader.string(customer, "email", "customer.email"),
            phone: reader.string(customer, "phone", "customer.phone"),
            metadata: reader
                .object(customer, "metadata", "customer.metadata")
                .map(|inner| Value::Object(inner.clone()).to_string()),
            address: Address {
                country: reader.string(&address, "country", "customer.address.country"),
                region: reader.string(&address, "region", "customer.address.region"),
                city: reader.string(&address, "city", "customer.address.city"),
                full_address: reader.string(
                    &address,
                    "full_address",
                    "customer.address.full_address",
                ),
                postcode: reader.string(&address, "postcode", "customer.address.postcode"),
            },
        });
    }
    if reader.problems.is_empty() {
        Ok(request)
    } else {
        Err(PaymegaError::fields(reader.problems))
    }
}

/// Parses a JSON body into an object; anything else is a 400.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, PaymegaError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(PaymegaError::BadRequest),
    }
}

/// The `data.attributes` of a JSON:API body.
pub fn jsonapi_attributes(body: &[u8]) -> Result<Map<String, Value>, PaymegaError> {
    let object = json_object(body)?;
    match object.get("data") {
        Some(Value::Object(data)) => match data.get("attributes") {
            Some(Value::Object(attributes)) => Ok(attributes.clone()),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(_) => Err(PaymegaError::BadRequest),
        },
        _ => Err(PaymegaError::BadRequest),
    }
}

/// The HTML form's fields (`customer[address][full_address]`) as a nested JSON object, so the
/// form and the JSON bodies share one reader. Repeated `name[]` keys become arrays.
/// Deepest nesting read from a form key.
const FORM_KEY_DEPTH_MAX: usize = 5;

pub fn form_to_object(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut root = Map::new();
    for (name, value) in pairs {
        let mut path: Vec<&str> = Vec::new();
        let (head, mut rest) = name
            .split_once('[')
            .map_or((name.as_str(), ""), |(head, rest)| (head, rest));
        path.push(head);
        let mut is_list = false;
        while !rest.is_empty() {
            // Forms nest a few levels (`customer[address][city]`); deeper keys are ignored
            // rather than followed, so no key can make the reading recurse without bound.
            if path.len() >= FORM_KEY_DEPTH_MAX {
                break;
            }
            let Some((segment, after)) = rest.split_once(']') else {
                break;
            };
            if segment.is_empty() {
                is_list = true;
            } else {
                path.push(segment);
            }
            rest = after.strip_prefix('[').unwrap_or("");
        }
        insert_path(&mut root, &path, value, is_list);
    }
    root
}

fn insert_path(object: &mut Map<String, Value>, path: &[&str], value: &str, is_list: bool) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        if is_list {
            let entry = object
                .entry(first.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(Value::String(value.to_owned()));
            }
        } else {
            object.insert(first.to_string(), Value::String(value.to_owned()));
        }
        return;
    }
    let entry = object
        .entry(first.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(inner) = entry {
        insert_path(inner, rest, value, is_list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_form_keys_nest() {
        let pairs: Vec<(String, String)> = [
            ("public_key", "pk"),
            ("customer[reference_id]", "c1"),
            ("customer[address][full_address]", "Test Address"),
            ("return_urls[success]", "https://a"),
            ("show_methods[]", "payment_card"),
            ("show_methods[]", "test"),
        ]
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        let object = Value::Object(form_to_object(&pairs));
        assert_eq!(
            object["customer"]["address"]["full_address"],
            "Test Address"
        );
        assert_eq!(object["customer"]["reference_id"], "c1");
        assert_eq!(object["return_urls"]["success"], "https://a");
        assert_eq!(
            object["show_methods"],
            serde_json::json!(["payment_card", "test"])
        );
    }

    #[test]
    fn deep_form_keys_are_cut_short() {
        let key = format!("a{}", "[b]".repeat(100_000));
        let object = form_to_object(&[(key, "x".to_owned())]);
        let mut depth = 0;
        let mut value = &Value::Object(object);
        while let Some(inner) = value.as_object().and_then(|object| object.values().next()) {
            depth += 1;
            value = inner;
        }
        assert!(depth <= 5, "{depth}");
    }

    #[test]
    fn amounts_keep_their_text_and_types_are_checked() {
        let object = json_object(
            br#"{"amount": 123.45, "currency": "USD", "service": "s", "test_mode": "yes"}"#,
        )
        .unwrap();
        let error = invoice_from_object(&object).err().unwrap();
        assert_eq!(
            error.body()["errors"]["test_mode"],
            "This value is not valid."
        );
        let object = json_object(
            br#"{"amount": 123.45, "currency": "USD", "customer": {"reference_id": "1"}}"#,
        )
        .unwrap();
        let request = invoice_from_object(&object).unwrap();
        assert_eq!(request.amount, "123.45");
        assert_eq!(request.customer.unwrap().reference_id, "1");
    }
}
