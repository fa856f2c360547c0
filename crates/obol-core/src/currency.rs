//! ISO 4217 currencies: alphabetic code, numeric code and minor-unit exponent.
//!
//! The table is the complete list of active codes. Codes the standard lists with no minor unit
//! ("N.A.": precious metals, units of account) parse, but carry no exponent and cannot hold
//! money, except `XTS`, the code reserved for testing, which we give two decimals because test
//! services of the seed systems price in it (`amount_min: 0.01`).

use std::fmt;

use crate::error::{Coded, ErrorCode, codes};

/// A currency from the ISO 4217 table. `Copy`, compared by code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    index: u16,
}

struct Entry {
    code: &'static str,
    numeric: u16,
    /// `None` where ISO 4217 says "N.A.".
    exponent: Option<u8>,
}

const fn e(code: &'static str, numeric: u16, exponent: u8) -> Entry {
    Entry {
        code,
        numeric,
        exponent: Some(exponent),
    }
}

const fn na(code: &'static str, numeric: u16) -> Entry {
    Entry {
        code,
        numeric,
        exponent: None,
    }
}

/// Sorted by alphabetic code (a test checks), so look-ups are binary searches.
static TABLE: &[Entry] = &[
    e("AED", 784, 2),
    e("AFN", 971, 2),
    e("ALL", 8, 2),
    e("AMD", 51, 2),
    e("AOA", 973, 2),
    e("ARS", 32, 2),
    e("AUD", 36, 2),
    e("AWG", 533, 2),
    e("AZN", 944, 2),
    e("BAM", 977, 2),
    e("BBD", 52, 2),
    e("BDT", 50, 2),
    e("BGN", 975, 2),
    e("BHD", 48, 3),
    e("BIF", 108, 0),
    e("BMD", 60, 2),
    e("BND", 96, 2),
    e("BOB", 68, 2),
    e("BOV", 984, 2),
    e("BRL", 986, 2),
    e("BSD", 44, 2),
    e("BTN", 64, 2),
    e("BWP", 72, 2),
    e("BYN", 933, 2),
    e("BZD", 84, 2),
    e("CAD", 124, 2),
    e("CDF", 976, 2),
    e("CHE", 947, 2),
    e("CHF", 756, 2),
    e("CHW", 948, 2),
    e("CLF", 990, 4),
    e("CLP", 152, 0),
    e("CNY", 156, 2),
    e("COP", 170, 2),
    e("COU", 970, 2),
    e("CRC", 188, 2),
    e("CUP", 192, 2),
    e("CVE", 132, 2),
    e("CZK", 203, 2),
    e("DJF", 262, 0),
    e("DKK", 208, 2),
    e("DOP", 214, 2),
    e("DZD", 12, 2),
    e("EGP", 818, 2),
    e("ERN", 232, 2),
    e("ETB", 230, 2),
    e("EUR", 978, 2),
    e("FJD", 242, 2),
    e("FKP", 238, 2),
    e("GBP", 826, 2),
    e("GEL", 981, 2),
    e("GHS", 936, 2),
    e("GIP", 292, 2),
    e("GMD", 270, 2),
    e("GNF", 324, 0),
    e("GTQ", 320, 2),
    e("GYD", 328, 2),
    e("HKD", 344, 2),
    e("HNL", 340, 2),
    e("HTG", 332, 2),
    e("HUF", 348, 2),
    e("IDR", 360, 2),
    e("ILS", 376, 2),
    e("INR", 356, 2),
    e("IQD", 368, 3),
    e("IRR", 364, 2),
    e("ISK", 352, 0),
    e("JMD", 388, 2),
    e("JOD", 400, 3),
    e("JPY", 392, 0),
    e("KES", 404, 2),
    e("KGS", 417, 2),
    e("KHR", 116, 2),
    e("KMF", 174, 0),
    e("KPW", 408, 2),
    e("KRW", 410, 0),
    e("KWD", 414, 3),
    e("KYD", 136, 2),
    e("KZT", 398, 2),
    e("LAK", 418, 2),
    e("LBP", 422, 2),
    e("LKR", 144, 2),
    e("LRD", 430, 2),
    e("LSL", 426, 2),
    e("LYD", 434, 3),
    e("MAD", 504, 2),
    e("MDL", 498, 2),
    e("MGA", 969, 2),
    e("MKD", 807, 2),
    e("MMK", 104, 2),
    e("MNT", 496, 2),
    e("MOP", 446, 2),
    e("MRU", 929, 2),
    e("MUR", 480, 2),
    e("MVR", 462, 2),
    e("MWK", 454, 2),
    e("MXN", 484, 2),
    e("MXV", 979, 2),
    e("MYR", 458, 2),
    e("MZN", 943, 2),
    e("NAD", 516, 2),
    e("NGN", 566, 2),
    e("NIO", 558, 2),
    e("NOK", 578, 2),
    e("NPR", 524, 2),
    e("NZD", 554, 2),
    e("OMR", 512, 3),
    e("PAB", 590, 2),
    e("PEN", 604, 2),
    e("PGK", 598, 2),
    e("PHP", 608, 2),
    e("PKR", 586, 2),
    e("PLN", 985, 2),
    e("PYG", 600, 0),
    e("QAR", 634, 2),
    e("RON", 946, 2),
    e("RSD", 941, 2),
    e("RUB", 643, 2),
    e("RWF", 646, 0),
    e("SAR", 682, 2),
    e("SBD", 90, 2),
    e("SCR", 690, 2),
    e("SDG", 938, 2),
    e("SEK", 752, 2),
    e("SGD", 702, 2),
    e("SHP", 654, 2),
    e("SLE", 925, 2),
    e("SOS", 706, 2),
    e("SRD", 968, 2),
    e("SSP", 728, 2),
    e("STN", 930, 2),
    e("SVC", 222, 2),
    e("SYP", 760, 2),
    e("SZL", 748, 2),
    e("THB", 764, 2),
    e("TJS", 972, 2),
    e("TMT", 934, 2),
    e("TND", 788, 3),
    e("TOP", 776, 2),
    e("TRY", 949, 2),
    e("TTD", 780, 2),
    e("TWD", 901, 2),
    e("TZS", 834, 2),
    e("UAH", 980, 2),
    e("UGX", 800, 0),
    e("USD", 840, 2),
    e("USN", 997, 2),
    e("UYI", 940, 0),
    e("UYU", 858, 2),
    e("UYW", 927, 4),
    e("UZS", 860, 2),
    e("VED", 926, 2),
    e("VES", 928, 2),
    e("VND", 704, 0),
    e("VUV", 548, 0),
    e("WST", 882, 2),
    e("XAF", 950, 0),
    na("XAG", 961),
    na("XAU", 959),
    na("XBA", 955),
    na("XBB", 956),
    na("XBC", 957),
    na("XBD", 958),
    e("XCD", 951, 2),
    e("XCG", 532, 2),
    na("XDR", 960),
    e("XOF", 952, 0),
    na("XPD", 964),
    e("XPF", 953, 0),
    na("XPT", 962),
    na("XSU", 994),
    e("XTS", 963, 2),
    na("XUA", 965),
    na("XXX", 999),
    e("YER", 886, 2),
    e("ZAR", 710, 2),
    e("ZMW", 967, 2),
    e("ZWG", 924, 2),
];

/// Why a currency code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("unknown currency code")]
    Unknown,
    #[error("currency has no minor unit and cannot carry an amount")]
    NoMinorUnit,
}

impl Coded for CurrencyError {
    fn code(&self) -> ErrorCode {
        match self {
            CurrencyError::Unknown => codes::CURRENCY_UNKNOWN,
            CurrencyError::NoMinorUnit => codes::CURRENCY_NOT_MONETARY,
        }
    }
}

impl Currency {
    pub const USD: Currency = Currency::known("USD");
    pub const EUR: Currency = Currency::known("EUR");
    pub const RUB: Currency = Currency::known("RUB");
    pub const UAH: Currency = Currency::known("UAH");

    /// For constants: a code that must be in the table (checked at compile time).
    const fn known(code: &str) -> Currency {
        let mut index = 0;
        while index < TABLE.len() {
            if const_str_eq(TABLE[index].code, code) {
                return Currency {
                    index: index as u16,
                };
            }
            index += 1;
        }
        panic!("currency constant not in the ISO 4217 table");
    }

    /// Parses an alphabetic code exactly as ISO 4217 writes it (three upper-case letters).
    pub fn parse(code: &str) -> Result<Currency, CurrencyError> {
        TABLE
            .binary_search_by(|entry| entry.code.cmp(code))
            .map(|index| Currency {
                index: index as u16,
            })
            .map_err(|_| CurrencyError::Unknown)
    }

    /// Parses an alphabetic code in any letter case (`usd`), for wire formats that allow it.
    pub fn parse_case_insensitive(code: &str) -> Result<Currency, CurrencyError> {
        if code.len() != 3 {
            return Err(CurrencyError::Unknown);
        }
        Currency::parse(&code.to_ascii_uppercase())
    }

    /// Looks a currency up by its ISO 4217 numeric code (`980` is UAH).
    pub fn from_numeric(numeric: u16) -> Result<Currency, CurrencyError> {
        TABLE
            .iter()
            .position(|entry| entry.numeric == numeric)
            .map(|index| Currency {
                index: index as u16,
            })
            .ok_or(CurrencyError::Unknown)
    }

    /// Every currency of the table, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        (0..TABLE.len()).map(|index| Currency {
            index: index as u16,
        })
    }

    pub fn code(self) -> &'static str {
        TABLE[self.index as usize].code
    }

    pub fn numeric(self) -> u16 {
        TABLE[self.index as usize].numeric
    }

    /// The numeric code written with three digits, as ISO 4217 does (`008`).
    pub fn numeric_text(self) -> String {
        format!("{:03}", self.numeric())
    }

    /// Number of decimal places of the minor unit; `None` for codes without one.
    pub fn minor_unit(self) -> Option<u8> {
        TABLE[self.index as usize].exponent
    }

    /// The exponent of a currency that can carry money.
    pub fn exponent(self) -> Result<u8, CurrencyError> {
        self.minor_unit().ok_or(CurrencyError::NoMinorUnit)
    }
}

const fn const_str_eq(left: &str, right: &str) -> bool {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    if left.len() != right.len() {
        return false;
    }
    let mut index = 0;
    while index < left.len() {
        if left[index] != right[index] {
            return false;
        }
        index += 1;
    }
    true
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} before {}",
                pair[0].code,
                pair[1].code
            );
        }
        let mut numerics: Vec<u16> = TABLE.iter().map(|entry| entry.numeric).collect();
        numerics.sort_unstable();
        numerics.dedup();
        assert_eq!(numerics.len(), TABLE.len(), "numeric codes are unique");
        assert!(TABLE.len() >= 170, "the complete table, not a sample");
    }

    #[test]
    fn exponents_of_well_known_currencies() {
        let cases = [
            ("USD", 2),
            ("JPY", 0),
            ("KWD", 3),
            ("BHD", 3),
            ("CLF", 4),
            ("UAH", 2),
            ("ISK", 0),
        ];
        for (code, exponent) in cases {
            assert_eq!(
                Currency::parse(code).unwrap().exponent().unwrap(),
                exponent,
                "{code}"
            );
        }
    }

    #[test]
    fn numeric_codes_resolve_both_ways() {
        assert_eq!(Currency::from_numeric(980).unwrap(), Currency::UAH);
        assert_eq!(Currency::from_numeric(643).unwrap().code(), "RUB");
        assert_eq!(Currency::USD.numeric(), 840);
        assert_eq!(Currency::parse("ALL").unwrap().numeric_text(), "008");
        assert_eq!(Currency::from_numeric(1), Err(CurrencyError::Unknown));
    }

    #[test]
    fn parsing_is_exact_unless_asked_otherwise() {
        assert_eq!(Currency::parse("usd"), Err(CurrencyError::Unknown));
        assert_eq!(
            Currency::parse_case_insensitive("usd").unwrap(),
            Currency::USD
        );
        assert_eq!(Currency::parse("US"), Err(CurrencyError::Unknown));
        assert_eq!(Currency::parse("ABC"), Err(CurrencyError::Unknown));
    }

    #[test]
    fn metals_have_no_minor_unit_but_the_test_code_does() {
        assert_eq!(
            Currency::parse("XAU").unwrap().exponent(),
            Err(CurrencyError::NoMinorUnit)
        );
        assert_eq!(Currency::parse("XTS").unwrap().exponent(), Ok(2));
    }
}
