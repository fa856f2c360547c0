//! The hosted pages' HTML, in `maud` templates (the dashboard's engine, SPEC §7): every
//! interpolation is escaped, and [`PreEscaped`] appears once, for this file's own style sheet.
//! The pages work without JavaScript and carry no external resources, so the
//! Content-Security-Policy can forbid scripts entirely; what a checkout would do with a script
//! (recognising the card's brand, say) is done on the server, after a post.
//!
//! The form contract of SPEC §4 (`card_number`, `card_expiry`, `card_cvv`, `card_holder`,
//! `csrf_token`, `decision` = `approve` | `reject`, the `test` service's field keys) is written
//! here; scripts drive these pages by those names, so they never change.

use std::collections::HashMap;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use obol_core::card::brand_of;
use obol_core::catalog::ServiceField;
use obol_core::payment::{CardPayload, PaymentStatus, Resolution};
use obol_core::sandbox::cards;

use super::texts::{Language, Texts};

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
    /// A test payment: every page says so, and the card form lists the sandbox's cards. Live
    /// payments (and pages of no payment) never show the banner.
    pub test_mode: bool,
    /// This page's address (path and query, without `lang`), for the language switch; `None`
    /// leaves the switch out (a page of no payment has nothing to switch to).
    pub here: Option<&'a str>,
}

impl Frame<'_> {
    fn texts(&self) -> &'static Texts {
        self.language.texts()
    }

    /// `/hpp/{path}?cpi=…&lang=…`: the language travels with the forms so a `?lang=` choice
    /// survives a post.
    fn action(&self, path: &str) -> String {
        format!(
            "/hpp/{path}?cpi={}&lang={}",
            self.payment_id,
            self.language.code()
        )
    }

    /// The hidden CSRF input every form carries.
    pub fn csrf_input(&self) -> Markup {
        csrf_input(self.csrf_token)
    }
}

/// The hidden `csrf_token` input.
pub fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

/// `path` with `lang` set to `language` (any `lang` it had is dropped; the rest, `cpi` or
/// `token`, is kept).
pub fn with_language(path: &str, language: Language) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut url = format!("{base}?");
    for pair in query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("lang="))
    {
        url.push_str(pair);
        url.push('&');
    }
    url.push_str("lang=");
    url.push_str(language.code());
    url
}

/// Each language's name in itself, for the switch.
fn language_name(language: Language) -> &'static str {
    match language {
        Language::English => "English",
        Language::Russian => "Русский",
        Language::Ukrainian => "Українська",
    }
}

/// The brands the card form names, in the order shown (the core's `brand_of` codes).
const ACCEPTED_BRANDS: [&str; 8] = [
    "visa",
    "mastercard",
    "mir",
    "maestro",
    "amex",
    "jcb",
    "unionpay",
    "discover",
];

/// A brand's label, as the brand writes it; `None` for a code we have no label for.
pub fn brand_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "visa" => "Visa",
        "mastercard" => "Mastercard",
        "mir" => "Mir",
        "maestro" => "Maestro",
        "amex" => "American Express",
        "jcb" => "JCB",
        "unionpay" => "UnionPay",
        "discover" => "Discover",
        _ => return None,
    })
}

/// The sandbox's cards the test banner lists, with the outcome each gives (in the order of
/// [`Texts::test_card_outcomes`]).
pub const SANDBOX_CARDS: [&str; 5] = [
    cards::SUCCESS,
    cards::DECLINED,
    cards::INSUFFICIENT_FUNDS,
    cards::THREE_DS,
    cards::PROCESSING_ERROR,
];

/// `4242424242424242` as people read it: `4242 4242 4242 4242`. Grouped, a test card's
/// digits never appear in a page as one run (the tests look for such runs).
fn grouped(digits: &str) -> String {
    let mut text = String::with_capacity(digits.len() + digits.len() / 4);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && index % 4 == 0 {
            text.push(' ');
        }
        text.push(digit);
    }
    text
}

/// Responsive from 320 px up: one column, inputs and buttons as wide as the page, long words
/// (a merchant's name, a description) wrapped rather than scrolled.
const STYLE: &str = "*,*::before,*::after{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}\
body{font-family:system-ui,sans-serif;line-height:1.4;max-width:32rem;margin:0 auto;padding:1rem;color:#1b1b1b;background:#fff;overflow-wrap:anywhere}\
body.dark{color:#eee;background:#181a1f}body.dark a{color:#8ab4f8}\
header{display:flex;justify-content:flex-end}\
nav.languages ul{display:flex;flex-wrap:wrap;gap:.25rem .75rem;list-style:none;margin:0;padding:0}\
nav.languages a[aria-current]{font-weight:700;text-decoration:none}\
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.1rem;margin:0 0 .5rem}\
dl.summary{display:grid;grid-template-columns:auto minmax(0,1fr);gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}\
label{display:block;margin-top:.75rem;font-weight:600}\
input[type=text]{display:block;width:100%;max-width:100%;margin-top:.25rem;padding:.6rem;font-size:1rem;border:1px solid #767676;border-radius:4px}\
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}\
.hint{display:block;font-size:.875rem;color:#555;margin-top:.25rem}body.dark .hint{color:#bbb}\
button{margin-top:1rem;padding:.7rem 1.2rem;font-size:1rem;min-height:2.75rem;max-width:100%}\
.error{color:#b00020;border:1px solid #b00020;padding:.5rem}body.dark .error{color:#ff8a80;border-color:#ff8a80}\
.test-banner{border:2px dashed #b26a00;background:#fff8e1;color:#3d2800;padding:.75rem;margin:0 0 1rem}\
body.dark .test-banner{background:#332600;color:#ffe08a;border-color:#ffb300}\
.test-banner p{margin:.25rem 0}.test-banner ul{margin:.5rem 0 0;padding-left:1.25rem}\
.test-banner code{white-space:nowrap;font-size:1rem}\
ul.brands{display:flex;flex-wrap:wrap;gap:.25rem;list-style:none;margin:.25rem 0 0;padding:0}\
ul.brands li{border:1px solid #999;border-radius:3px;padding:0 .35rem;font-size:.8rem}\
ul.brands li[aria-current]{border:2px solid #1a7f37;font-weight:700}\
ul.methods{list-style:none;padding:0}ul.methods li{margin:.5rem 0}ul.methods button{width:100%;margin-top:0}\
@media (max-width:400px){body{padding:.75rem}dl.summary{grid-template-columns:minmax(0,1fr)}dd{margin-bottom:.4rem}button{width:100%}}";

/// A whole document: the language switch, the test banner, the heading, the payment's
/// summary, then `body`.
pub fn document(frame: &Frame<'_>, heading: &str, body: Markup) -> String {
    page(frame, heading, None, body)
}

/// [`document`], with `banner_extra` inside a test payment's banner.
fn page(frame: &Frame<'_>, heading: &str, banner_extra: Option<Markup>, body: Markup) -> String {
    let texts = frame.texts();
    html! {
        (DOCTYPE)
        html lang=(frame.language.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (heading) " · " (texts.page_title) }
                style { (PreEscaped(STYLE)) }
            }
            body class=[frame.dark.then_some("dark")] {
                @if let Some(here) = frame.here {
                    header {
                        nav.languages aria-label=(texts.language) {
                            ul {
                                @for language in [Language::English, Language::Russian, Language::Ukrainian] {
                                    li {
                                        a href=(with_language(here, language)) lang=(language.code()) hreflang=(language.code())
                                            aria-current=[(language == frame.language).then_some("true")] {
                                            (language_name(language))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                main {
                    @if frame.test_mode {
                        aside.test-banner role="note" aria-labelledby="test-banner-heading" {
                            h2 #test-banner-heading { (texts.test_banner_heading) }
                            p { (texts.test_banner_text) }
                            @if let Some(extra) = banner_extra { (extra) }
                        }
                    }
                    h1 { (heading) }
                    @if let Some(summary) = frame.summary {
                        section aria-label=(texts.page_title) {
                            dl.summary {
                                @if let Some(merchant) = &summary.merchant {
                                    dt { (texts.merchant) } dd.merchant { (merchant) }
                                }
                                dt { (texts.amount) } dd.amount { (summary.amount) " " (summary.currency) }
                                @if let Some(description) = &summary.description {
                                    dt { (texts.description) } dd.description { (description) }
                                }
                            }
                        }
                    }
                    (body)
                }
            }
        }
    }
    .into_string()
}

/// The form's error, announced when the page loads.
pub fn error_block(message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.error role="alert" id="form-error" { (message) }
        }
    }
}

/// A labelled text input; `value` is echoed (never used for the card number or CVV).
#[derive(Default)]
pub struct TextInput<'a> {
    /// The field's name, also its id.
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    /// Shown under the input and tied to it with `aria-describedby` (id `{name}-hint`).
    pub hint: Option<Markup>,
    pub autocomplete: Option<&'a str>,
    /// `numeric` for digits: a phone shows its number pad.
    pub inputmode: Option<&'a str>,
    pub maxlength: Option<usize>,
    pub placeholder: Option<&'a str>,
    pub required: bool,
    /// The form has an error: the input points at it too (`form-error`).
    pub errored: bool,
}

pub fn text_input(input: TextInput<'_>) -> Markup {
    let hint_id = format!("{}-hint", input.name);
    let described = match (input.hint.is_some(), input.errored) {
        (true, true) => Some(format!("{hint_id} form-error")),
        (true, false) => Some(hint_id.clone()),
        (false, true) => Some("form-error".to_owned()),
        (false, false) => None,
    };
    html! {
        label for=(input.name) { (input.label) }
        input type="text" id=(input.name) name=(input.name) value=(input.value)
            aria-describedby=[described] inputmode=[input.inputmode]
            autocomplete=[input.autocomplete] maxlength=[input.maxlength]
            placeholder=[input.placeholder] required[input.required];
        @if let Some(hint) = input.hint {
            div.hint id=(hint_id) { (hint) }
        }
    }
}

/// What a re-rendered card form keeps: the expiry and holder, never the number or the CVV;
/// of the number, only the brand it showed.
#[derive(Default)]
pub struct CardFormValues {
    pub expiry: String,
    pub holder: String,
    /// The brand recognised in the number entered (the core's code), said back after an error.
    pub brand: Option<&'static str>,
}

/// The accepted brands, with the one recognised in the number entered (if any) marked: what
/// a script would show as the customer types, shown by the server after a post instead.
pub fn brands_hint(texts: &Texts, recognised: Option<&str>) -> Markup {
    html! {
        (texts.accepted_cards) ":"
        ul.brands {
            @for code in ACCEPTED_BRANDS {
                li data-brand=(code) aria-current=[(recognised == Some(code)).then_some("true")] {
                    (brand_label(code).unwrap_or(code))
                }
            }
        }
        @if let Some(label) = recognised.and_then(brand_label) {
            span.recognised data-brand=[recognised] { (texts.recognised_card) ": " strong { (label) } }
        }
    }
}

/// The inputs of a card (number, expiry, holder; the CVV where the flow takes one) with the
/// contract's names and the browser's autofill tokens. P2P's card form uses them too.
pub fn card_inputs(
    texts: &Texts,
    values: &CardFormValues,
    with_security_code: bool,
    errored: bool,
) -> Markup {
    html! {
        (text_input(TextInput {
            name: "card_number",
            label: texts.card_number,
            hint: Some(brands_hint(texts, values.brand)),
            autocomplete: Some("cc-number"),
            inputmode: Some("numeric"),
            maxlength: Some(23),
            required: true,
            errored,
            ..TextInput::default()
        }))
        (text_input(TextInput {
            name: "card_expiry",
            label: texts.card_expiry,
            value: &values.expiry,
            hint: Some(html! { (texts.card_expiry_hint) }),
            autocomplete: Some("cc-exp"),
            inputmode: Some("numeric"),
            maxlength: Some(7),
            placeholder: Some("MM/YY"),
            required: true,
            errored,
        }))
        @if with_security_code {
            (text_input(TextInput {
                name: "card_cvv",
                label: texts.card_cvv,
                autocomplete: Some("cc-csc"),
                inputmode: Some("numeric"),
                maxlength: Some(4),
                required: true,
                errored,
                ..TextInput::default()
            }))
        }
        (text_input(TextInput {
            name: "card_holder",
            label: texts.card_holder,
            value: &values.holder,
            autocomplete: Some("cc-name"),
            maxlength: Some(64),
            errored,
            ..TextInput::default()
        }))
    }
}

/// The sandbox's cards and what each does, for a test payment's banner.
fn sandbox_cards(texts: &Texts) -> Markup {
    html! {
        p { (texts.test_cards_text) }
        ul.test-cards {
            @for (number, outcome) in SANDBOX_CARDS.iter().zip(texts.test_card_outcomes) {
                li { code { (grouped(number)) } " — " (outcome) }
            }
        }
    }
}

pub fn card_form(frame: &Frame<'_>, error: Option<&str>, values: &CardFormValues) -> String {
    let texts = frame.texts();
    let body = html! {
        (error_block(error))
        form method="post" action=(frame.action("pay")) autocomplete="on" {
            (frame.csrf_input())
            (card_inputs(texts, values, true, error.is_some()))
            button type="submit" { (texts.pay) }
        }
    };
    let cards = frame.test_mode.then(|| sandbox_cards(texts));
    page(frame, texts.card_heading, cards, body)
}

/// The `test` method's form: one input per service field, named by its key.
pub fn test_form(
    frame: &Frame<'_>,
    fields: &[ServiceField],
    values: &HashMap<String, String>,
    error: Option<&str>,
) -> String {
    let texts = frame.texts();
    let language = frame.language.code();
    let mut ordered: Vec<&ServiceField> = fields.iter().collect();
    ordered.sort_by_key(|field| field.position);
    let body = html! {
        (error_block(error))
        form method="post" action=(frame.action("test")) {
            (frame.csrf_input())
            @for field in ordered {
                @let hint = field.hint.get(language);
                (text_input(TextInput {
                    name: &field.key,
                    label: field.label.get(language),
                    value: values.get(&field.key).map_or("", String::as_str),
                    hint: (!hint.is_empty()).then(|| html! { (hint) }),
                    placeholder: field.example.as_deref(),
                    required: field.required,
                    errored: error.is_some(),
                    ..TextInput::default()
                }))
            }
            button type="submit" { (texts.submit) }
        }
    };
    document(frame, texts.test_heading, body)
}

/// One choice on the method page: the service's code and the method's name.
pub struct MethodChoice {
    pub service_code: String,
    pub name: String,
}

pub fn method_choice(frame: &Frame<'_>, choices: &[MethodChoice]) -> String {
    let texts = frame.texts();
    let body = html! {
        @if choices.is_empty() {
            p { (texts.no_methods) }
        } @else {
            ul.methods {
                @for choice in choices {
                    // One form per method, so the choice works without JavaScript and each
                    // button says what it chooses.
                    li {
                        form method="post" action=(frame.action("choose")) {
                            (frame.csrf_input())
                            input type="hidden" name="service" value=(choice.service_code);
                            button type="submit" { (choice.name) }
                        }
                    }
                }
            }
        }
    };
    document(frame, texts.choose_heading, body)
}

/// A card as the 3-D Secure and result pages show it: its brand, recognised from the stored
/// payload, and its mask.
pub fn card_line(texts: &Texts, brand: &str, mask: &str) -> Markup {
    html! {
        p.card data-brand=(brand) {
            (texts.card) ": "
            strong.brand { (brand_label(brand).unwrap_or(texts.unknown_brand)) }
            " " span.mask { (mask) }
        }
    }
}

/// A stored card's line.
fn payload_line(texts: &Texts, card: &CardPayload) -> Markup {
    // A payload stored before brands were kept says nothing; its prefix still does.
    let brand = if card.brand.is_empty() {
        brand_of(&card.first6)
    } else {
        card.brand.as_str()
    };
    card_line(texts, brand, &card.mask())
}

pub fn challenge(frame: &Frame<'_>, card: &CardPayload) -> String {
    let texts = frame.texts();
    let body = html! {
        p { (texts.three_ds_text) }
        (payload_line(texts, card))
        (decision_form(Some(&frame.action("3ds")), frame.csrf_token, texts))
    };
    document(frame, texts.three_ds_heading, body)
}

/// The 3-D Secure answer: `decision` = `approve` | `reject`, posted to `action` (`None`: the
/// page's own address).
pub fn decision_form(action: Option<&str>, csrf_token: &str, texts: &Texts) -> Markup {
    html! {
        form method="post" action=[action] {
            (csrf_input(csrf_token))
            button type="submit" name="decision" value="approve" { (texts.approve) }
            " "
            button type="submit" name="decision" value="reject" { (texts.reject) }
        }
    }
}

/// The status of a payment that cannot take a payment attempt (or the result after one),
/// with the card it was paid with, if any.
pub fn status_page(
    frame: &Frame<'_>,
    status: PaymentStatus,
    resolution: Resolution,
    note: Option<&str>,
    card: Option<&CardPayload>,
) -> String {
    let texts = frame.texts();
    let body = html! {
        @if let Some(note) = note {
            p role="alert" { (note) }
        }
        p {
            (texts.status) ": "
            strong.status data-status=(status.as_str()) { (texts.status_heading(status)) }
        }
        @if resolution != Resolution::Ok {
            p {
                (texts.reason) ": "
                span.resolution data-resolution=(resolution.as_str()) { (texts.resolution(resolution)) }
            }
        }
        @if let Some(card) = card {
            (payload_line(texts, card))
        }
    };
    document(frame, texts.status_heading(status), body)
}

/// A page with a heading and a sentence: not found, forbidden, bad request, errors.
pub fn message_page(frame: &Frame<'_>, heading: &str, text: &str) -> String {
    document(frame, heading, html! { p { (text) } })
}

#[cfg(test)]
mod tests;
