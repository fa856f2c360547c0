//! The hosted pages' HTML, built as strings: the pages are small, and a template crate would
//! be one more thing to audit for escaping. Every value that did not come from this file goes
//! through [`escape_html`]. The pages work without JavaScript and carry no external resources,
//! so the Content-Security-Policy can forbid scripts entirely.

use std::fmt::Write as _;

use obol_core::catalog::ServiceField;
use obol_core::payment::{PaymentStatus, Resolution};

use super::texts::{Language, Texts};

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(character),
        }
    }
    escaped
}

/// What every page of a payment shows about it.
pub struct Summary {
    pub merchant: Option<String>,
    pub amount: String,
    pub currency: String,
    pub description: Option<String>,
}

/// The frame shared by every page of one payment.
pub struct Frame<'a> {
    pub language: Language,
    pub summary: Option<&'a Summary>,
    /// `theme: dark` in the payment's page options.
    pub dark: bool,
    /// The payment id, for the forms' actions.
    pub payment_id: &'a str,
    pub csrf_token: &'a str,
}

impl Frame<'_> {
    fn texts(&self) -> &'static Texts {
        self.language.texts()
    }

    /// `/hpp/{path}?cpi=…&lang=…`: the language travels with the forms so a `?lang=` choice
    /// survives a post.
    fn action(&self, path: &str) -> String {
        format!(
            "/hpp/{path}?cpi={}&amp;lang={}",
            escape_html(self.payment_id),
            self.language.code()
        )
    }

    fn csrf_input(&self) -> String {
        format!(
            r#"<input type="hidden" name="csrf_token" value="{}">"#,
            escape_html(self.csrf_token)
        )
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;background:#fff}\
body.dark{color:#eee;background:#181a1f}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}\
label{display:block;margin-top:.75rem;font-weight:600}input[type=text]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}\
.error{color:#b00020;border:1px solid #b00020;padding:.5rem}body.dark .error{color:#ff8a80;border-color:#ff8a80}\
ul.methods{list-style:none;padding:0}ul.methods li{margin:.5rem 0}";

/// A whole document: head, the payment's summary, then `body`.
pub fn document(frame: &Frame<'_>, heading: &str, body: &str) -> String {
    let texts = frame.texts();
    let mut html = String::with_capacity(4096);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"{language}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{heading} · {title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body{class}>\n<main>\n<h1>{heading}</h1>\n",
        language = frame.language.code(),
        heading = escape_html(heading),
        title = texts.page_title,
        class = if frame.dark { " class=\"dark\"" } else { "" },
    );
    if let Some(summary) = frame.summary {
        html.push_str("<section aria-label=\"");
        html.push_str(texts.page_title);
        html.push_str("\">\n<dl>\n");
        if let Some(merchant) = &summary.merchant {
            let _ = writeln!(
                html,
                "<dt>{}</dt><dd class=\"merchant\">{}</dd>",
                texts.merchant,
                escape_html(merchant)
            );
        }
        let _ = writeln!(
            html,
            "<dt>{}</dt><dd class=\"amount\">{} {}</dd>",
            texts.amount,
            escape_html(&summary.amount),
            escape_html(&summary.currency)
        );
        if let Some(description) = &summary.description {
            let _ = writeln!(
                html,
                "<dt>{}</dt><dd class=\"description\">{}</dd>",
                texts.description,
                escape_html(description)
            );
        }
        html.push_str("</dl>\n</section>\n");
    }
    html.push_str(body);
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

pub fn error_block(message: Option<&str>) -> String {
    match message {
        Some(message) => format!(
            "<p class=\"error\" role=\"alert\" id=\"form-error\">{}</p>\n",
            escape_html(message)
        ),
        None => String::new(),
    }
}

/// A labelled text input; `value` is echoed escaped (never used for the card number or CVV).
pub fn text_input(
    name: &str,
    label: &str,
    value: &str,
    attributes: &str,
    hint: Option<&str>,
) -> String {
    let hint_html = hint.map_or_else(String::new, |hint| {
        format!(" <small id=\"{name}-hint\">{}</small>", escape_html(hint))
    });
    let described = if hint.is_some() {
        format!(" aria-describedby=\"{name}-hint\"")
    } else {
        String::new()
    };
    format!(
        "<label for=\"{name}\">{label}{hint_html}</label>\n\
         <input type=\"text\" id=\"{name}\" name=\"{name}\" value=\"{value}\"{described} {attributes}>\n",
        label = escape_html(label),
        value = escape_html(value),
    )
}

/// What a re-rendered card form keeps: the expiry and holder, never the number or the CVV.
#[derive(Default)]
pub struct CardFormValues {
    pub expiry: String,
    pub holder: String,
}

pub fn card_form(frame: &Frame<'_>, error: Option<&str>, values: &CardFormValues) -> String {
    let texts = frame.texts();
    let mut body = error_block(error);
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{action}\" autocomplete=\"on\">\n{csrf}",
        action = frame.action("pay"),
        csrf = frame.csrf_input(),
    );
    body.push_str(&text_input(
        "card_number",
        texts.card_number,
        "",
        "inputmode=\"numeric\" autocomplete=\"cc-number\" maxlength=\"23\" required",
        None,
    ));
    body.push_str(&text_input(
        "card_expiry",
        texts.card_expiry,
        &values.expiry,
        "inputmode=\"numeric\" autocomplete=\"cc-exp\" maxlength=\"7\" placeholder=\"MM/YY\" required",
        Some(texts.card_expiry_hint),
    ));
    body.push_str(&text_input(
        "card_cvv",
        texts.card_cvv,
        "",
        "inputmode=\"numeric\" autocomplete=\"cc-csc\" maxlength=\"4\" required",
        None,
    ));
    body.push_str(&text_input(
        "card_holder",
        texts.card_holder,
        &values.holder,
        "autocomplete=\"cc-name\" maxlength=\"64\"",
        None,
    ));
    let _ = write!(
        body,
        "<button type=\"submit\">{}</button>\n</form>\n",
        texts.pay
    );
    document(frame, texts.card_heading, &body)
}

/// The `test` method's form: one input per service field, named by its key.
pub fn test_form(
    frame: &Frame<'_>,
    fields: &[ServiceField],
    values: &std::collections::HashMap<String, String>,
    error: Option<&str>,
) -> String {
    let texts = frame.texts();
    let language = frame.language.code();
    let mut body = error_block(error);
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{action}\">\n{csrf}",
        action = frame.action("test"),
        csrf = frame.csrf_input(),
    );
    let mut ordered: Vec<&ServiceField> = fields.iter().collect();
    ordered.sort_by_key(|field| field.position);
    for field in ordered {
        let hint = field.hint.get(language);
        let mut attributes = String::new();
        if field.required {
            attributes.push_str("required");
        }
        if let Some(example) = &field.example {
            let _ = write!(attributes, " placeholder=\"{}\"", escape_html(example));
        }
        let value = values.get(&field.key).map_or("", String::as_str);
        body.push_str(&text_input(
            &escape_html(&field.key),
            field.label.get(language),
            value,
            &attributes,
            (!hint.is_empty()).then_some(hint),
        ));
    }
    let _ = write!(
        body,
        "<button type=\"submit\">{}</button>\n</form>\n",
        texts.submit
    );
    document(frame, texts.test_heading, &body)
}

/// One choice on the method page: the service's code and the method's name.
pub struct MethodChoice {
    pub service_code: String,
    pub name: String,
}

pub fn method_choice(frame: &Frame<'_>, choices: &[MethodChoice]) -> String {
    let texts = frame.texts();
    let mut body = String::new();
    if choices.is_empty() {
        let _ = writeln!(body, "<p>{}</p>", texts.no_methods);
    } else {
        body.push_str("<ul class=\"methods\">\n");
        for choice in choices {
            // One form per method, so the choice works without JavaScript and each button
            // says what it chooses.
            let _ = writeln!(
                body,
                "<li><form method=\"post\" action=\"{action}\">{csrf}\
                 <input type=\"hidden\" name=\"service\" value=\"{code}\">\
                 <button type=\"submit\">{name}</button></form></li>",
                action = frame.action("choose"),
                csrf = frame.csrf_input(),
                code = escape_html(&choice.service_code),
                name = escape_html(&choice.name),
            );
        }
        body.push_str("</ul>\n");
    }
    document(frame, texts.choose_heading, &body)
}

pub fn challenge(frame: &Frame<'_>, card_mask: &str) -> String {
    let texts = frame.texts();
    let body = format!(
        "<p>{text}</p>\n<p class=\"card\">{mask}</p>\n\
         <form method=\"post\" action=\"{action}\">\n{csrf}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">{approve}</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"reject\">{reject}</button>\n</form>\n",
        text = texts.three_ds_text,
        mask = escape_html(card_mask),
        action = frame.action("3ds"),
        csrf = frame.csrf_input(),
        approve = texts.approve,
        reject = texts.reject,
    );
    document(frame, texts.three_ds_heading, &body)
}

/// The status of a payment that cannot take a payment attempt (or the result after one).
pub fn status_page(
    frame: &Frame<'_>,
    status: PaymentStatus,
    resolution: Resolution,
    note: Option<&str>,
) -> String {
    let texts = frame.texts();
    let mut body = String::new();
    if let Some(note) = note {
        let _ = writeln!(body, "<p role=\"alert\">{}</p>", escape_html(note));
    }
    let _ = writeln!(
        body,
        "<p>{}: <strong class=\"status\" data-status=\"{}\">{}</strong></p>",
        texts.status,
        status.as_str(),
        texts.status_heading(status)
    );
    if resolution != Resolution::Ok {
        let _ = writeln!(
            body,
            "<p>{}: <span class=\"resolution\" data-resolution=\"{}\">{}</span></p>",
            texts.reason,
            resolution.as_str(),
            texts.resolution(resolution)
        );
    }
    document(frame, texts.status_heading(status), &body)
}

/// A page with a heading and a sentence: not found, forbidden, bad request, errors.
pub fn message_page(frame: &Frame<'_>, heading: &str, text: &str) -> String {
    document(frame, heading, &format!("<p>{}</p>\n", escape_html(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn card_form_never_echoes_the_number() {
        let summary = Summary {
            merchant: Some("<Shop>".into()),
            amount: "10.00".into(),
            currency: "USD".into(),
            description: None,
        };
        let frame = Frame {
            language: Language::English,
            summary: Some(&summary),
            dark: false,
            payment_id: "cpi_x",
            csrf_token: "token",
        };
        let html = card_form(&frame, Some("bad"), &CardFormValues::default());
        assert!(html.contains("name=\"card_number\" value=\"\""));
        assert!(html.contains("&lt;Shop&gt;"));
        assert!(html.contains("<html lang=\"en\">"));
    }
}
