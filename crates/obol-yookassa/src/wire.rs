//! `PaymentCommit`'s wire formats (seed `003`): the request and the answer in JSON and in XML
//! with the seed's data-contract namespaces and element order. XML is read without a DTD,
//! entity declarations or entity expansion: only the five predefined entities and character
//! references are understood.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Map, Value, json};

pub const REQUEST_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Request.YooKassaRequest";
pub const RESPONSE_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Response.YooKassaResponse";
pub const ABSTRACTIONS_NAMESPACE: &str =
    "http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Abstractions";
const INSTANCE_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Longest text accepted in any field.
const FIELD_MAX: usize = 2048;
/// Deepest XML nesting accepted (the request has two levels).
const XML_DEPTH_MAX: usize = 8;
/// Elements accepted in a request (it has nine).
const XML_ELEMENTS_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }

    /// The format a media type names (`application/json`, `text/json`, `application/xml`,
    /// `text/xml`, with or without parameters).
    pub fn of_media_type(media_type: &str) -> Option<Format> {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" | "text/json" => Some(Format::Json),
            "application/xml" | "text/xml" => Some(Format::Xml),
            _ => None,
        }
    }

    /// The first format an `Accept` header names (`*/*` names none).
    pub fn of_accept(accept: &str) -> Option<Format> {
        accept.split(',').find_map(Format::of_media_type)
    }
}

/// `ApiParams`: where and as whom the upstream is called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiParams {
    pub url: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub idempotence_key: Option<String>,
}

/// A `PaymentCommitRequest` as read (fields are checked later, by the handler).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitRequest {
    pub refund: bool,
    /// `Amount` as decimal text, exactly as written.
    pub amount: Option<String>,
    pub description: Option<String>,
    pub payment_refund: Option<String>,
    pub api: ApiParams,
}

/// A `PaymentCommitResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitResponse {
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
    pub status: Option<String>,
    pub confirmation_token: Option<String>,
    pub idempotence_key: Option<String>,
    pub error_code: i64,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

fn bounded(name: &str, text: String) -> Result<String, WireError> {
    if text.chars().count() > FIELD_MAX {
        return Err(WireError(format!(
            "{name} is longer than {FIELD_MAX} characters."
        )));
    }
    Ok(text)
}

fn json_text(object: &Map<String, Value>, name: &str) -> Result<Option<String>, WireError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => bounded(name, text.clone()).map(Some),
        Some(_) => Err(WireError(format!("{name} must be a string."))),
    }
}

pub fn parse_json(body: &[u8]) -> Result<CommitRequest, WireError> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return Err(WireError(
            "The body is not a JSON object PaymentCommitRequest.".into(),
        ));
    };
    let refund = match object.get("Refund") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(refund)) => *refund,
        Some(_) => return Err(WireError("Refund must be true or false.".into())),
    };
    let amount = match object.get("Amount") {
        None | Some(Value::Null) => None,
        // With arbitrary precision the number keeps its text: no float ever holds it.
        Some(Value::Number(number)) => Some(bounded("Amount", number.to_string())?),
        Some(Value::String(text)) => Some(bounded("Amount", text.clone())?),
        Some(_) => return Err(WireError("Amount must be a decimal number.".into())),
    };
    let api = match object.get("ApiParams") {
        None | Some(Value::Null) => ApiParams::default(),
        Some(Value::Object(api)) => ApiParams {
            url: json_text(api, "Url")?,
            login: json_text(api, "Login")?,
            password: json_text(api, "Password")?,
            idempotence_key: json_text(api, "IdempotenceKey")?,
        },
        Some(_) => return Err(WireError("ApiParams must be an object.".into())),
    };
    Ok(CommitRequest {
        refund,
        amount,
        description: json_text(&object, "Description")?,
        payment_refund: json_text(&object, "PaymentRefund")?,
        api,
    })
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn is_nil(start: &quick_xml::events::BytesStart<'_>) -> bool {
    start
        .attributes()
        .flatten()
        .any(|attribute| local(attribute.key.as_ref()) == "nil" && &*attribute.value == "true")
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// Reads the request's elements into `path → text` (`Amount`, `ApiParams/Url`, …).
pub fn parse_xml(body: &[u8]) -> Result<CommitRequest, WireError> {
    let text = std::str::from_utf8(body).map_err(|_| WireError("The body is not UTF-8.".into()))?;
    let values = xml_values(text)?;
    let get = |name: &str| -> Option<String> { values.get(name).cloned().flatten() };
    let refund = match get("Refund").as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(WireError("Refund must be true or false.".into())),
    };
    Ok(CommitRequest {
        refund,
        amount: get("Amount").map(|text| text.trim().to_owned()),
        description: get("Description"),
        payment_refund: get("PaymentRefund"),
        api: ApiParams {
            url: get("ApiParams/Url"),
            login: get("ApiParams/Login"),
            password: get("ApiParams/Password"),
            idempotence_key: get("ApiParams/IdempotenceKey"),
        },
    })
}

/// The first value of each element path under the root (`Amount`, `ApiParams/Url`, …; later
/// ones ignored), `None` for an `xsi:nil` element. Limits the document's size and depth and
/// refuses a DTD.
fn xml_values(text: &str) -> Result<std::collections::HashMap<String, Option<String>>, WireError> {
    let unreadable = |detail: &str| WireError(format!("The body is not readable XML: {detail}."));
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut path: Vec<String> = Vec::new();
    let mut values: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    let mut current = String::new();
    let mut root_seen = false;
    let mut elements = 0usize;
    let root_error = || WireError("The root element must be PaymentCommitRequest.".into());
    loop {
        let event = reader
            .read_event()
            .map_err(|error| unreadable(&error.to_string()))?;
        if matches!(event, Event::Start(_) | Event::Empty(_)) {
            elements += 1;
            if elements > XML_ELEMENTS_MAX {
                return Err(unreadable("too many elements"));
            }
        }
        match event {
            Event::Start(start) => {
                let name = local(start.name().as_ref()).to_owned();
                if path.is_empty() {
                    if root_seen || name != "PaymentCommitRequest" {
                        return Err(root_error());
                    }
                    root_seen = true;
                }
                if path.len() >= XML_DEPTH_MAX {
                    return Err(unreadable("nested too deeply"));
                }
                path.push(name);
                current.clear();
                if is_nil(&start) && path.len() > 1 {
                    values.entry(path[1..].join("/")).or_insert(None);
                }
            }
            Event::Empty(start) => {
                let name = local(start.name().as_ref()).to_owned();
                if path.is_empty() {
                    if root_seen || name != "PaymentCommitRequest" {
                        return Err(root_error());
                    }
                    root_seen = true;
                    continue;
                }
                let mut full = path[1..].join("/");
                if !full.is_empty() {
                    full.push('/');
                }
                full.push_str(&name);
                let value = if is_nil(&start) {
                    None
                } else {
                    Some(String::new())
                };
                values.entry(full).or_insert(value);
            }
            Event::Text(text) => current.push_str(&text.xml10_content()),
            Event::CData(data) => current.push_str(&data.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => Some(character),
                    Ok(None) => predefined_entity(reference.as_ref()),
                    Err(_) => None,
                };
                current.push(resolved.ok_or_else(|| unreadable("an unknown entity"))?);
            }
            Event::End(_) => {
                if path.len() > 1 {
                    values
                        .entry(path[1..].join("/"))
                        .or_insert_with(|| Some(std::mem::take(&mut current)));
                }
                current.clear();
                path.pop();
            }
            Event::DocType(_) => return Err(unreadable("a DTD is not accepted")),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
        if current.len() > FIELD_MAX {
            return Err(WireError(format!(
                "A field is longer than {FIELD_MAX} characters."
            )));
        }
    }
    if !root_seen || !path.is_empty() {
        return Err(unreadable("the document is incomplete"));
    }
    Ok(values)
}

/// `application/x-www-form-urlencoded` (the seed lists it without a sample): the members by
/// their names, `ApiParams` members as `ApiParams.Url` (or `ApiParams[Url]`), as ASP.NET binds
/// them.
pub fn parse_form(body: &[u8]) -> Result<CommitRequest, WireError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| WireError("The body is not a readable form.".into()))?;
    let get = |names: &[&str]| -> Result<Option<String>, WireError> {
        match pairs
            .iter()
            .filter(|(key, _)| names.iter().any(|name| key.eq_ignore_ascii_case(name)))
            .map(|(_, value)| value.clone())
            .next_back()
        {
            Some(value) => bounded(names[0], value).map(Some),
            None => Ok(None),
        }
    };
    let refund = match get(&["Refund"])?.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(text) if text.eq_ignore_ascii_case("true") || text == "1" => true,
        Some(text) if text.eq_ignore_ascii_case("false") || text == "0" => false,
        Some(_) => return Err(WireError("Refund must be true or false.".into())),
    };
    Ok(CommitRequest {
        refund,
        amount: get(&["Amount"])?.map(|text| text.trim().to_owned()),
        description: get(&["Description"])?,
        payment_refund: get(&["PaymentRefund"])?,
        api: ApiParams {
            url: get(&["ApiParams.Url", "ApiParams[Url]"])?,
            login: get(&["ApiParams.Login", "ApiParams[Login]"])?,
            password: get(&["ApiParams.Password", "ApiParams[Password]"])?,
            idempotence_key: get(&["ApiParams.IdempotenceKey", "ApiParams[IdempotenceKey]"])?,
        },
    })
}

pub fn parse(format: Format, body: &[u8]) -> Result<CommitRequest, WireError> {
    match format {
        Format::Json => parse_json(body),
        Format::Xml => parse_xml(body),
    }
}

/// The request again, as canonical JSON (for idempotency fingerprints): the amount in minor
/// units (so `10`, `10.0` and `"10.00"` are one request), the password left out.
pub fn fingerprint_text(request: &CommitRequest, amount_minor: i64) -> String {
    json!({
        "Refund": request.refund,
        "Amount": amount_minor,
        "Description": request.description,
        "PaymentRefund": request.payment_refund,
        "Url": request.api.url,
        "Login": request.api.login,
    })
    .to_string()
}

pub fn render_json(response: &CommitResponse) -> Vec<u8> {
    json!({
        "PaymentId": response.payment_id,
        "RefundId": response.refund_id,
        "Status": response.status,
        "ConfirmationToken": response.confirmation_token,
        "IdempotenceKey": response.idempotence_key,
        "ErrorCode": response.error_code,
        "Message": response.message,
    })
    .to_string()
    .into_bytes()
}

/// Escapes text for XML; characters XML 1.0 cannot carry (most control characters) become
/// U+FFFD, so an answer is always well-formed whatever the upstream sent.
fn escape(text: &str) -> Cow<'_, str> {
    let forbidden = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if !text.contains(['<', '>', '&', '"', '\'']) && !text.contains(forbidden) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        match character {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other if forbidden(other) => escaped.push('\u{FFFD}'),
            other => escaped.push(other),
        }
    }
    Cow::Owned(escaped)
}

fn element(xml: &mut String, name: &str, namespace: Option<&str>, value: Option<&str>) {
    let xmlns = namespace.map_or_else(String::new, |namespace| format!(" xmlns=\"{namespace}\""));
    match value {
        Some(value) => xml.push_str(&format!("<{name}{xmlns}>{}</{name}>", escape(value))),
        None => xml.push_str(&format!("<{name}{xmlns} i:nil=\"true\"/>")),
    }
}

/// The answer as the seed's data contract writes it: `ErrorCode` and `Message` in the
/// abstractions namespace first, then the other members in alphabetical order; absent values
/// as `i:nil="true"`.
pub fn render_xml(response: &CommitResponse) -> Vec<u8> {
    let mut xml = format!(
        "<PaymentCommitResponse xmlns:i=\"{INSTANCE_NAMESPACE}\" xmlns=\"{RESPONSE_NAMESPACE}\">"
    );
    element(
        &mut xml,
        "ErrorCode",
        Some(ABSTRACTIONS_NAMESPACE),
        Some(&response.error_code.to_string()),
    );
    element(
        &mut xml,
        "Message",
        Some(ABSTRACTIONS_NAMESPACE),
        response.message.as_deref(),
    );
    element(
        &mut xml,
        "ConfirmationToken",
        None,
        response.confirmation_token.as_deref(),
    );
    element(
        &mut xml,
        "IdempotenceKey",
        None,
        response.idempotence_key.as_deref(),
    );
    element(&mut xml, "PaymentId", None, response.payment_id.as_deref());
    element(&mut xml, "RefundId", None, response.refund_id.as_deref());
    element(&mut xml, "Status", None, response.status.as_deref());
    xml.push_str("</PaymentCommitResponse>");
    xml.into_bytes()
}

pub fn render(format: Format, response: &CommitResponse) -> Vec<u8> {
    match format {
        Format::Json => render_json(response),
        Format::Xml => render_xml(response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_JSON: &str = r#"{
"Refund": true,
"Amount": 2.0,
"Description": "sample string 3",
"PaymentRefund": "sample string 4",
"ApiParams": {
"Url": "sample string 1",
"Login": "sample string 2",
"Password": "sample string 3",
"IdempotenceKey": "sample string 4"
}
}"#;

    const SEED_XML: &str = r#"<PaymentCommitRequest xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/LCManagerPartner.Implementation.Request.YooKassaRequest">
<Amount>2</Amount>
<ApiParams>
<IdempotenceKey>sample string 4</IdempotenceKey>
<Login>sample string 2</Login>
<Password>sample string 3</Password>
<Url>sample string 1</Url>
</ApiParams>
<Description>sample string 3</Description>
<PaymentRefund>sample string 4</PaymentRefund>
<Refund>true</Refund>
</PaymentCommitRequest>"#;

    #[test]
    fn the_seeds_requests_read_alike() {
        let json = parse_json(SEED_JSON.as_bytes()).unwrap();
        let xml = parse_xml(SEED_XML.as_bytes()).unwrap();
        assert_eq!(json.amount.as_deref(), Some("2.0"));
        assert_eq!(xml.amount.as_deref(), Some("2"));
        assert_eq!(json.api, xml.api);
        assert!(json.refund && xml.refund);
        assert_eq!(json.description, xml.description);
        assert_eq!(xml.payment_refund.as_deref(), Some("sample string 4"));
        assert_eq!(xml.api.url.as_deref(), Some("sample string 1"));
    }

    #[test]
    fn xml_refuses_dtds_and_unknown_entities() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><PaymentCommitRequest><Description>&lol;</Description></PaymentCommitRequest>"#;
        assert!(parse_xml(bomb.as_bytes()).is_err());
        let unknown =
            "<PaymentCommitRequest><Description>&lol;</Description></PaymentCommitRequest>";
        assert!(parse_xml(unknown.as_bytes()).is_err());
        let escaped = "<PaymentCommitRequest><Description>a &amp; b &#1071;</Description></PaymentCommitRequest>";
        assert_eq!(
            parse_xml(escaped.as_bytes())
                .unwrap()
                .description
                .as_deref(),
            Some("a & b Я")
        );
        assert!(parse_xml(b"<Other/>").is_err());
        let many = format!(
            "<PaymentCommitRequest>{}</PaymentCommitRequest>",
            "<a/>".repeat(100)
        );
        assert!(parse_xml(many.as_bytes()).is_err(), "bounded element count");
        let first_wins =
            "<PaymentCommitRequest><Amount>1</Amount><Amount>2</Amount></PaymentCommitRequest>";
        assert_eq!(
            parse_xml(first_wins.as_bytes()).unwrap().amount.as_deref(),
            Some("1")
        );
        let control = CommitResponse {
            message: Some("bad\u{1}char".into()),
            ..CommitResponse::default()
        };
        assert!(
            String::from_utf8(render_xml(&control))
                .unwrap()
                .contains("bad\u{FFFD}char")
        );
        assert!(parse_xml(b"<PaymentCommitRequest><Amount>1").is_err());
    }

    #[test]
    fn answers_follow_the_seed() {
        let response = CommitResponse {
            payment_id: Some("p-1".into()),
            status: Some("pending".into()),
            confirmation_token: Some("ct-1".into()),
            idempotence_key: Some("k & 1".into()),
            ..CommitResponse::default()
        };
        let xml = String::from_utf8(render_xml(&response)).unwrap();
        assert!(xml.starts_with(&format!(
            "<PaymentCommitResponse xmlns:i=\"{INSTANCE_NAMESPACE}\" xmlns=\"{RESPONSE_NAMESPACE}\"><ErrorCode xmlns=\"{ABSTRACTIONS_NAMESPACE}\">0</ErrorCode><Message xmlns=\"{ABSTRACTIONS_NAMESPACE}\" i:nil=\"true\"/><ConfirmationToken>ct-1</ConfirmationToken><IdempotenceKey>k &amp; 1</IdempotenceKey><PaymentId>p-1</PaymentId><RefundId i:nil=\"true\"/><Status>pending</Status>"
        )));
        let json: Value = serde_json::from_slice(&render_json(&response)).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "PaymentId",
                "RefundId",
                "Status",
                "ConfirmationToken",
                "IdempotenceKey",
                "ErrorCode",
                "Message"
            ]
        );
        assert_eq!(json["ErrorCode"], 0);
        assert_eq!(json["RefundId"], Value::Null);
    }

    #[test]
    fn formats_come_from_media_types() {
        assert_eq!(
            Format::of_media_type("text/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::of_media_type("TEXT/XML"), Some(Format::Xml));
        assert_eq!(Format::of_media_type("text/plain"), None);
        assert_eq!(Format::of_accept("*/*"), None);
        assert_eq!(
            Format::of_accept("text/html, application/xml;q=0.9"),
            Some(Format::Xml)
        );
    }
}
