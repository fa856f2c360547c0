//! Reading the pages the server renders, as a browser's form would.

/// The value of the form field `name` (`name="…" value="…"`) in `html`; panics, showing the
/// page, when there is none.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}
