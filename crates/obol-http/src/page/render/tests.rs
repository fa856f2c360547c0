use super::*;

fn summary() -> Summary {
    Summary {
        merchant: Some("<script>alert(1)</script>".into()),
        amount: "10.00".into(),
        currency: "USD".into(),
        description: Some(r#"A "quoted" tea & 'cake'"#.into()),
    }
}

fn frame<'a>(summary: &'a Summary, test_mode: bool) -> Frame<'a> {
    Frame {
        language: Language::English,
        summary: Some(summary),
        dark: false,
        payment_id: "cpi_x",
        csrf_token: "token\"><b>",
        test_mode,
        here: Some("/hpp/?cpi=cpi_x"),
    }
}

#[test]
fn card_form_never_echoes_the_number() {
    let summary = summary();
    let values = CardFormValues {
        expiry: "12/30".into(),
        holder: "Ann".into(),
        brand: Some("visa"),
    };
    let html = card_form(&frame(&summary, false), Some("bad"), &values);
    assert!(html.contains("name=\"card_number\" value=\"\""), "{html}");
    assert!(html.contains("name=\"card_cvv\" value=\"\""), "{html}");
    assert!(
        html.contains("name=\"card_expiry\" value=\"12/30\""),
        "{html}"
    );
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("<p class=\"error\" role=\"alert\" id=\"form-error\">bad</p>"));
    // The brand recognised in the number entered is said back; the number never is.
    assert!(
        html.contains("Recognised card: <strong>Visa</strong>"),
        "{html}"
    );
}

#[test]
fn values_are_escaped() {
    let summary = summary();
    let html = card_form(&frame(&summary, true), None, &CardFormValues::default());
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("A &quot;quoted&quot; tea &amp; 'cake'"),
        "{html}"
    );
    // An attribute value cannot be closed by what it carries.
    assert!(
        html.contains("value=\"token&quot;&gt;&lt;b&gt;\""),
        "{html}"
    );
    assert!(!html.contains("<b>"));
}

#[test]
fn the_test_banner_is_on_test_payments_only() {
    let summary = summary();
    let test = card_form(&frame(&summary, true), None, &CardFormValues::default());
    assert!(test.contains("class=\"test-banner\""), "{test}");
    assert!(test.contains("Test mode"));
    for (card, outcome) in [
        ("4242 4242 4242 4242", "Payment succeeds"),
        ("4000 0000 0000 0002", "Declined"),
        ("4000 0000 0000 9995", "Insufficient funds"),
        ("4000 0000 0000 3220", "Asks for 3-D Secure"),
        ("4000 0000 0000 0119", "Processing error"),
    ] {
        assert!(
            test.contains(&format!("<code>{card}</code> — {outcome}")),
            "{card}: {test}"
        );
    }
    let live = card_form(&frame(&summary, false), None, &CardFormValues::default());
    assert!(!live.contains("class=\"test-banner\""), "{live}");
    assert!(!live.contains("4242 4242"));
    // Other pages of a test payment carry the banner, without the cards.
    let status = status_page(
        &frame(&summary, true),
        PaymentStatus::Processed,
        Resolution::Ok,
        None,
        None,
    );
    assert!(status.contains("class=\"test-banner\""));
    assert!(!status.contains("4242 4242"));
}

#[test]
fn the_language_switch_keeps_the_payment() {
    let summary = summary();
    let html = method_choice(&frame(&summary, false), &[]);
    for code in ["en", "ru", "uk"] {
        assert!(
            html.contains(&format!("href=\"/hpp/?cpi=cpi_x&amp;lang={code}\"")),
            "{code}: {html}"
        );
    }
    assert!(html.contains("aria-current=\"true\">English</a>"));
    assert_eq!(
        with_language("/hpp/3ds?cpi=cpi_x&lang=ru", Language::Ukrainian),
        "/hpp/3ds?cpi=cpi_x&lang=uk"
    );
    assert_eq!(
        with_language("/p2p/cards/new?token=abc", Language::English),
        "/p2p/cards/new?token=abc&lang=en"
    );
}

#[test]
fn the_card_form_is_labelled_for_autofill_and_assistive_technology() {
    let summary = summary();
    let html = card_form(&frame(&summary, false), None, &CardFormValues::default());
    for (name, autocomplete) in [
        ("card_number", "cc-number"),
        ("card_expiry", "cc-exp"),
        ("card_cvv", "cc-csc"),
        ("card_holder", "cc-name"),
    ] {
        assert!(html.contains(&format!("<label for=\"{name}\">")), "{name}");
        assert!(
            html.contains(&format!("id=\"{name}\" name=\"{name}\"")),
            "{name}: {html}"
        );
        assert!(
            html.contains(&format!("autocomplete=\"{autocomplete}\"")),
            "{name}"
        );
    }
    assert_eq!(html.matches("inputmode=\"numeric\"").count(), 3);
    assert!(html.contains("aria-describedby=\"card_number-hint\""));
    assert!(html.contains("<li data-brand=\"mir\">Mir</li>"));
    assert!(html.contains("<h1>Pay by card</h1>"));
    assert!(html.contains("<form method=\"post\" action=\"/hpp/pay?cpi=cpi_x&amp;lang=en\""));
}

#[test]
fn the_challenge_shows_the_recognised_brand() {
    let summary = summary();
    let card = CardPayload {
        first6: "555555".into(),
        last4: "4444".into(),
        brand: "mastercard".into(),
        expiry_month: 12,
        expiry_year: 2030,
        holder: None,
        issuer: None,
    };
    let html = challenge(&frame(&summary, true), &card);
    assert!(
        html.contains("<strong class=\"brand\">Mastercard</strong>"),
        "{html}"
    );
    assert!(html.contains("555555******4444"));
    assert!(html.contains("name=\"decision\" value=\"approve\""));
    assert!(html.contains("name=\"decision\" value=\"reject\""));
}

#[test]
fn a_dark_page_has_only_the_dark_class() {
    let summary = summary();
    let mut dark = frame(&summary, false);
    dark.dark = true;
    assert!(message_page(&dark, "h", "t").contains("<body class=\"dark\">"));
    assert!(message_page(&frame(&summary, false), "h", "t").contains("<body>"));
}
