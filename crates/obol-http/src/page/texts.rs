//! Everything the hosted pages say, in the three languages of SPEC §4, and how the language of
//! a page is chosen.

use obol_core::payment::{PaymentStatus, Resolution};

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Russian,
    Ukrainian,
}

/// Longest `Accept-Language` header looked at; browsers send a few dozen bytes, and the
/// header must not cost more than that to read.
const ACCEPT_LANGUAGE_LENGTH_MAX: usize = 512;

impl Language {
    /// The BCP 47 code used in the `lang` attribute and the `?lang=` parameter.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Russian => "ru",
            Language::Ukrainian => "uk",
        }
    }

    /// A language from a code or a locale (`ru`, `ru_RU`, `uk-UA`, `EN`); `None` when it is
    /// none of ours.
    pub fn parse(text: &str) -> Option<Language> {
        let primary = text.trim().get(..2)?.to_ascii_lowercase();
        let rest = &text.trim()[2..];
        if !(rest.is_empty() || rest.starts_with(['-', '_'])) {
            return None;
        }
        match primary.as_str() {
            "en" => Some(Language::English),
            "ru" => Some(Language::Russian),
            "uk" => Some(Language::Ukrainian),
            _ => None,
        }
    }

    /// The most preferred of our languages in an `Accept-Language` header (by `q`, then order).
    pub fn from_accept_language(header: &str) -> Option<Language> {
        let header = header.get(..ACCEPT_LANGUAGE_LENGTH_MAX).unwrap_or(header);
        let mut best: Option<(Language, f32)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let Some(language) = parts.next().and_then(Language::parse) else {
                continue;
            };
            let quality = parts
                .find_map(|part| part.trim().strip_prefix("q="))
                .map_or(Some(1.0), |value| value.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            if quality > 0.0 && best.is_none_or(|(_, highest)| quality > highest) {
                best = Some((language, quality));
            }
        }
        best.map(|(language, _)| language)
    }

    /// The page's language: `?lang=`, else the payment's locale, else the browser's, else English.
    pub fn choose(
        requested: Option<&str>,
        payment_locale: Option<&str>,
        accept_language: Option<&str>,
    ) -> Language {
        requested
            .and_then(Language::parse)
            .or_else(|| payment_locale.and_then(Language::parse))
            .or_else(|| accept_language.and_then(Language::from_accept_language))
            .unwrap_or(Language::English)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Language::English => &ENGLISH,
            Language::Russian => &RUSSIAN,
            Language::Ukrainian => &UKRAINIAN,
        }
    }
}

/// The words of the pages in one language.
pub struct Texts {
    pub page_title: &'static str,
    pub merchant: &'static str,
    pub amount: &'static str,
    pub description: &'static str,
    pub choose_heading: &'static str,
    pub no_methods: &'static str,
    pub card_heading: &'static str,
    pub card_number: &'static str,
    pub card_expiry: &'static str,
    pub card_expiry_hint: &'static str,
    pub card_cvv: &'static str,
    pub card_holder: &'static str,
    pub pay: &'static str,
    pub test_heading: &'static str,
    pub submit: &'static str,
    pub three_ds_heading: &'static str,
    pub three_ds_text: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub form_has_errors: &'static str,
    pub invalid_number: &'static str,
    pub invalid_expiry: &'static str,
    pub invalid_cvv: &'static str,
    pub invalid_holder: &'static str,
    pub invalid_fields: &'static str,
    pub not_found_heading: &'static str,
    pub not_found_text: &'static str,
    pub forbidden_heading: &'static str,
    pub forbidden_text: &'static str,
    pub bad_request_heading: &'static str,
    pub bad_request_text: &'static str,
    pub closed_text: &'static str,
    /// A live payment that no live route serves: no card form, never the sandbox.
    pub online_unavailable_heading: &'static str,
    pub online_unavailable_text: &'static str,
    pub error_heading: &'static str,
    pub error_text: &'static str,
    /// The language switch's name, for screen readers.
    pub language: &'static str,
    /// The banner every page of a test payment shows (live payments never do).
    pub test_banner_heading: &'static str,
    pub test_banner_text: &'static str,
    /// Above the sandbox's cards, on a test payment's card form.
    pub test_cards_text: &'static str,
    /// What each sandbox card does, in the order of `render::SANDBOX_CARDS`.
    pub test_card_outcomes: [&'static str; 5],
    /// Before the card brands the form accepts.
    pub accepted_cards: &'static str,
    /// Before the brand the server recognised in the number last entered.
    pub recognised_card: &'static str,
    /// Before a stored card's brand and mask (3-D Secure and result pages).
    pub card: &'static str,
    /// A brand no label is known for.
    pub unknown_brand: &'static str,
    /// Headings of the status and result pages, by core status (see [`Texts::status_heading`]).
    status_headings: [&'static str; 8],
    /// Why a payment failed, by resolution (see [`Texts::resolution`]).
    resolutions: [&'static str; 8],
}

impl Texts {
    pub fn status_heading(&self, status: PaymentStatus) -> &'static str {
        let index = PaymentStatus::ALL
            .iter()
            .position(|candidate| *candidate == status)
            .unwrap_or_default();
        self.status_headings[index]
    }

    pub fn resolution(&self, resolution: Resolution) -> &'static str {
        let index = Resolution::ALL
            .iter()
            .position(|candidate| *candidate == resolution)
            .unwrap_or_default();
        self.resolutions[index]
    }
}

static ENGLISH: Texts = Texts {
    page_title: "Payment",
    merchant: "Merchant",
    amount: "Amount",
    description: "Description",
    choose_heading: "Choose a payment method",
    no_methods: "No payment method is available for this payment.",
    card_heading: "Pay by card",
    card_number: "Card number",
    card_expiry: "Expiry date",
    card_expiry_hint: "MM/YY",
    card_cvv: "Security code (CVV)",
    card_holder: "Cardholder name (optional)",
    pay: "Pay",
    test_heading: "Test payment",
    submit: "Submit",
    three_ds_heading: "3-D Secure confirmation",
    three_ds_text: "Your bank asks you to confirm this payment.",
    approve: "Approve",
    reject: "Reject",
    status: "Status",
    reason: "Reason",
    form_has_errors: "Please correct the form.",
    invalid_number: "The card number is invalid.",
    invalid_expiry: "The expiry date is invalid; use MM/YY.",
    invalid_cvv: "The security code must be 3 or 4 digits.",
    invalid_holder: "The cardholder name is too long.",
    invalid_fields: "Some fields are missing or invalid.",
    not_found_heading: "Payment not found",
    not_found_text: "This payment link is not valid.",
    forbidden_heading: "Form expired",
    forbidden_text: "The form is no longer valid. Please open the payment page again.",
    bad_request_heading: "Bad request",
    bad_request_text: "The form could not be read. Please open the payment page again.",
    closed_text: "This payment can no longer be paid.",
    online_unavailable_heading: "Online payment is not available",
    online_unavailable_text: "This payment cannot be paid online. Please contact the merchant to pay it another way.",
    error_heading: "Something went wrong",
    error_text: "Please try again in a moment.",
    language: "Language",
    test_banner_heading: "Test mode",
    test_banner_text: "This is a test payment: no real money moves.",
    test_cards_text: "Use one of these sandbox cards with any future expiry date and any security code:",
    test_card_outcomes: [
        "Payment succeeds",
        "Declined",
        "Insufficient funds",
        "Asks for 3-D Secure",
        "Processing error",
    ],
    accepted_cards: "Accepted cards",
    recognised_card: "Recognised card",
    card: "Card",
    unknown_brand: "Card",
    status_headings: [
        "Waiting for payment",
        "Payment in progress",
        "Payment successful",
        "Payment failed",
        "Payment expired",
        "Payment cancelled",
        "Payment partially refunded",
        "Payment refunded",
    ],
    resolutions: [
        "",
        "The payment was declined.",
        "Insufficient funds.",
        "The card has expired.",
        "3-D Secure confirmation failed.",
        "A processing error occurred.",
        "The time to pay ran out.",
        "The payment was cancelled.",
    ],
};

static RUSSIAN: Texts = Texts {
    page_title: "Оплата",
    merchant: "Продавец",
    amount: "Сумма",
    description: "Описание",
    choose_heading: "Выберите способ оплаты",
    no_methods: "Для этого платежа нет доступных способов оплаты.",
    card_heading: "Оплата картой",
    card_number: "Номер карты",
    card_expiry: "Срок действия",
    card_expiry_hint: "ММ/ГГ",
    card_cvv: "Код безопасности (CVV)",
    card_holder: "Имя держателя карты (необязательно)",
    pay: "Оплатить",
    test_heading: "Тестовый платёж",
    submit: "Отправить",
    three_ds_heading: "Подтверждение 3-D Secure",
    three_ds_text: "Ваш банк просит подтвердить этот платёж.",
    approve: "Подтвердить",
    reject: "Отклонить",
    status: "Статус",
    reason: "Причина",
    form_has_errors: "Исправьте ошибки в форме.",
    invalid_number: "Неверный номер карты.",
    invalid_expiry: "Неверный срок действия; укажите ММ/ГГ.",
    invalid_cvv: "Код безопасности должен состоять из 3 или 4 цифр.",
    invalid_holder: "Имя держателя карты слишком длинное.",
    invalid_fields: "Некоторые поля не заполнены или заполнены неверно.",
    not_found_heading: "Платёж не найден",
    not_found_text: "Эта ссылка на оплату недействительна.",
    forbidden_heading: "Форма устарела",
    forbidden_text: "Форма больше недействительна. Откройте страницу оплаты заново.",
    bad_request_heading: "Неверный запрос",
    bad_request_text: "Не удалось прочитать форму. Откройте страницу оплаты заново.",
    closed_text: "Этот платёж больше нельзя оплатить.",
    online_unavailable_heading: "Онлайн-оплата недоступна",
    online_unavailable_text: "Этот платёж нельзя оплатить онлайн. Свяжитесь с продавцом, чтобы оплатить его другим способом.",
    error_heading: "Что-то пошло не так",
    error_text: "Попробуйте ещё раз чуть позже.",
    language: "Язык",
    test_banner_heading: "Тестовый режим",
    test_banner_text: "Это тестовый платёж: настоящие деньги не списываются.",
    test_cards_text: "Используйте одну из этих тестовых карт с любым будущим сроком действия и любым кодом безопасности:",
    test_card_outcomes: [
        "Оплата проходит",
        "Отклонена",
        "Недостаточно средств",
        "Запрашивает 3-D Secure",
        "Ошибка обработки",
    ],
    accepted_cards: "Принимаются карты",
    recognised_card: "Распознана карта",
    card: "Карта",
    unknown_brand: "Карта",
    status_headings: [
        "Ожидает оплаты",
        "Платёж обрабатывается",
        "Оплата прошла успешно",
        "Оплата не прошла",
        "Срок оплаты истёк",
        "Платёж отменён",
        "Платёж частично возвращён",
        "Платёж возвращён",
    ],
    resolutions: [
        "",
        "Платёж отклонён.",
        "Недостаточно средств.",
        "Срок действия карты истёк.",
        "Подтверждение 3-D Secure не пройдено.",
        "Произошла ошибка обработки.",
        "Время на оплату истекло.",
        "Платёж отменён.",
    ],
};

static UKRAINIAN: Texts = Texts {
    page_title: "Оплата",
    merchant: "Продавець",
    amount: "Сума",
    description: "Опис",
    choose_heading: "Оберіть спосіб оплати",
    no_methods: "Для цього платежу немає доступних способів оплати.",
    card_heading: "Оплата карткою",
    card_number: "Номер картки",
    card_expiry: "Термін дії",
    card_expiry_hint: "ММ/РР",
    card_cvv: "Код безпеки (CVV)",
    card_holder: "Ім'я власника картки (необов'язково)",
    pay: "Сплатити",
    test_heading: "Тестовий платіж",
    submit: "Надіслати",
    three_ds_heading: "Підтвердження 3-D Secure",
    three_ds_text: "Ваш банк просить підтвердити цей платіж.",
    approve: "Підтвердити",
    reject: "Відхилити",
    status: "Статус",
    reason: "Причина",
    form_has_errors: "Виправте помилки у формі.",
    invalid_number: "Невірний номер картки.",
    invalid_expiry: "Невірний термін дії; вкажіть ММ/РР.",
    invalid_cvv: "Код безпеки має складатися з 3 або 4 цифр.",
    invalid_holder: "Ім'я власника картки задовге.",
    invalid_fields: "Деякі поля не заповнені або заповнені невірно.",
    not_found_heading: "Платіж не знайдено",
    not_found_text: "Це посилання на оплату недійсне.",
    forbidden_heading: "Форма застаріла",
    forbidden_text: "Форма більше не дійсна. Відкрийте сторінку оплати знову.",
    bad_request_heading: "Невірний запит",
    bad_request_text: "Не вдалося прочитати форму. Відкрийте сторінку оплати знову.",
    closed_text: "Цей платіж більше не можна сплатити.",
    online_unavailable_heading: "Онлайн-оплата недоступна",
    online_unavailable_text: "Цей платіж не можна сплатити онлайн. Зверніться до продавця, щоб сплатити його іншим способом.",
    error_heading: "Щось пішло не так",
    error_text: "Спробуйте ще раз трохи згодом.",
    language: "Мова",
    test_banner_heading: "Тестовий режим",
    test_banner_text: "Це тестовий платіж: справжні гроші не списуються.",
    test_cards_text: "Використайте одну з цих тестових карток з будь-яким майбутнім терміном дії та будь-яким кодом безпеки:",
    test_card_outcomes: [
        "Оплата проходить",
        "Відхилена",
        "Недостатньо коштів",
        "Запитує 3-D Secure",
        "Помилка обробки",
    ],
    accepted_cards: "Приймаються картки",
    recognised_card: "Розпізнано картку",
    card: "Картка",
    unknown_brand: "Картка",
    status_headings: [
        "Очікує оплати",
        "Платіж обробляється",
        "Оплата пройшла успішно",
        "Оплата не пройшла",
        "Термін оплати минув",
        "Платіж скасовано",
        "Платіж частково повернуто",
        "Платіж повернуто",
    ],
    resolutions: [
        "",
        "Платіж відхилено.",
        "Недостатньо коштів.",
        "Термін дії картки минув.",
        "Підтвердження 3-D Secure не пройдено.",
        "Сталася помилка обробки.",
        "Час на оплату минув.",
        "Платіж скасовано.",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice_order() {
        assert_eq!(
            Language::choose(Some("ru"), Some("uk"), Some("en")),
            Language::Russian
        );
        assert_eq!(
            Language::choose(Some("de"), Some("uk_UA"), None),
            Language::Ukrainian
        );
        assert_eq!(
            Language::choose(None, None, Some("de-DE,uk;q=0.5,ru;q=0.8")),
            Language::Russian
        );
        assert_eq!(
            Language::choose(None, None, Some("uk-UA,ru;q=0.9")),
            Language::Ukrainian
        );
        assert_eq!(Language::choose(None, None, None), Language::English);
        assert_eq!(Language::parse("english"), None);
        assert_eq!(Language::parse("r"), None);
    }
}
