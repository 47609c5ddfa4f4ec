//! Money as integer minor units of an ISO-4217 currency.
//!
//! Providers speak decimals ("100.00", "1200.00", "69.69"); paymux never rounds them. A decimal
//! is parsed digit by digit into `i64` minor units: more fractional digits than the currency
//! allows, a sign, an exponent, `NaN` or an overflow is an error, never an approximation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO-4217 currency paymux can carry, with the number of digits of its minor unit.
///
/// A closed list on purpose: an unknown code is rejected at the edge instead of being stored
/// with a guessed exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Currency {
    Aud,
    Bdt,
    Bhd,
    Cad,
    Chf,
    Eur,
    Gbp,
    Inr,
    Jpy,
    Kwd,
    Usd,
    Xcd,
    Zar,
}

impl Currency {
    /// Every supported currency, in code order.
    pub const ALL: [Currency; 13] = [
        Currency::Aud,
        Currency::Bdt,
        Currency::Bhd,
        Currency::Cad,
        Currency::Chf,
        Currency::Eur,
        Currency::Gbp,
        Currency::Inr,
        Currency::Jpy,
        Currency::Kwd,
        Currency::Usd,
        Currency::Xcd,
        Currency::Zar,
    ];

    /// The upper-case ISO-4217 code.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Aud => "AUD",
            Currency::Bdt => "BDT",
            Currency::Bhd => "BHD",
            Currency::Cad => "CAD",
            Currency::Chf => "CHF",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Inr => "INR",
            Currency::Jpy => "JPY",
            Currency::Kwd => "KWD",
            Currency::Usd => "USD",
            Currency::Xcd => "XCD",
            Currency::Zar => "ZAR",
        }
    }

    /// Digits after the decimal point in this currency's major unit (USD 2, JPY 0, KWD 3).
    pub const fn exponent(self) -> u32 {
        match self {
            Currency::Jpy => 0,
            Currency::Bhd | Currency::Kwd => 3,
            _ => 2,
        }
    }

    /// Parses an ISO-4217 code, accepting any letter case ("usd" and "USD").
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        Currency::ALL
            .into_iter()
            .find(|currency| currency.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Currency::parse(code)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Currency::parse(&code)
    }
}

impl From<Currency> for &'static str {
    fn from(currency: Currency) -> Self {
        currency.code()
    }
}

/// Why a decimal amount or currency code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount `{0}` is not a plain decimal number (digits with at most one `.`)")]
    NotDecimal(String),
    #[error("amount `{amount}` has more than {max} fractional digits for {currency}")]
    TooPrecise {
        amount: String,
        currency: Currency,
        max: u32,
    },
    #[error("amount `{0}` does not fit in 64-bit minor units")]
    Overflow(String),
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
}

impl MoneyError {
    /// What is wrong, without the text that was refused: for messages about input nobody has
    /// authenticated (a webhook's amount), which reach logs. Reads after the field's name:
    /// "SpankPay `amount` is not a plain decimal number".
    pub fn problem(&self) -> &'static str {
        match self {
            MoneyError::Empty => "is empty",
            MoneyError::NotDecimal(_) => {
                "is not a plain decimal number (digits with at most one `.`)"
            }
            MoneyError::TooPrecise { .. } => "has more fractional digits than its currency allows",
            MoneyError::Overflow(_) => "does not fit in 64-bit minor units",
            MoneyError::UnknownCurrency(_) => "is not a currency paymux knows",
        }
    }
}

/// An exact amount: `minor` units (cents for USD) of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    /// The largest amount paymux takes, in minor units: 10^12 (ten billion dollars). Nine
    /// million of them still add up within `i64`, so every sum a period can hold stays exact;
    /// a larger amount is refused at the API and, from a provider, recorded but never summed.
    pub const MAX_MINOR: i64 = 1_000_000_000_000;

    /// True when `minor` is an amount paymux sums: from 0 to [`Money::MAX_MINOR`].
    pub const fn within_bounds(minor: i64) -> bool {
        0 <= minor && minor <= Money::MAX_MINOR
    }

    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a non-negative decimal in major units ("100.00", "100", "0.5") into minor units.
    ///
    /// Accepted: ASCII digits, optionally one `.` followed by at most `currency.exponent()`
    /// digits, with at least one digit on each side of the point. Everything else (signs,
    /// exponents, whitespace, `NaN`, `Infinity`, "1.", ".5") is refused rather than guessed at.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|fraction| !all_digits(fraction)) {
            return Err(MoneyError::NotDecimal(text.to_owned()));
        }
        let fraction = fraction.unwrap_or("");
        let exponent = currency.exponent();
        if fraction.len() > exponent as usize {
            return Err(MoneyError::TooPrecise {
                amount: text.to_owned(),
                currency,
                max: exponent,
            });
        }
        let overflow = || MoneyError::Overflow(text.to_owned());
        let mut minor: i64 = 0;
        let padding = exponent as usize - fraction.len();
        let digits = whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding));
        for digit in digits {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(digit - b'0')))
                .ok_or_else(overflow)?;
        }
        Ok(Money { minor, currency })
    }

    /// The amount in major units with exactly `currency.exponent()` fractional digits
    /// ("100.00", "1200", "0.500"); negative amounts (net figures) get a leading `-`.
    pub fn to_decimal_string(&self) -> String {
        let exponent = self.currency.exponent();
        let digits = self.minor.unsigned_abs().to_string();
        let sign = if self.minor < 0 { "-" } else { "" };
        if exponent == 0 {
            return format!("{sign}{digits}");
        }
        let width = exponent as usize + 1;
        let padded = format!("{digits:0>width$}");
        let (whole, fraction) = padded.split_at(padded.len() - exponent as usize);
        format!("{sign}{whole}.{fraction}")
    }

    /// The amount as a payer reads it on a payment page: the currency code, then the major
    /// units grouped by thousands, with the currency's own number of decimals:
    /// `BDT 1,250.00`, `JPY 1,250`, `KWD 1.250`. A code rather than a symbol: `$` alone would
    /// not tell USD from XCD, AUD or CAD.
    pub fn to_price_string(&self) -> String {
        let decimal = self.to_decimal_string();
        let (sign, unsigned) = match decimal.strip_prefix('-') {
            Some(unsigned) => ("-", unsigned),
            None => ("", decimal.as_str()),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (index, digit) in whole.chars().enumerate() {
            if index > 0 && (whole.len() - index) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        let fraction = fraction
            .map(|digits| format!(".{digits}"))
            .unwrap_or_default();
        format!("{} {sign}{grouped}{fraction}", self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(text: &str) -> Result<i64, MoneyError> {
        Money::parse_decimal(text, Currency::Usd).map(|money| money.minor)
    }

    #[test]
    fn parses_the_documented_shapes() {
        assert_eq!(usd("100.00"), Ok(10_000));
        assert_eq!(usd("100"), Ok(10_000));
        assert_eq!(usd("0.5"), Ok(50));
        assert_eq!(usd("69.69"), Ok(6_969));
        assert_eq!(usd("0"), Ok(0));
        assert_eq!(usd("007.10"), Ok(710));
        let zar = Money::parse_decimal("1200.00", Currency::Zar).unwrap();
        assert_eq!(zar.minor, 120_000);
        assert_eq!(
            Money::parse_decimal("1500", Currency::Jpy).unwrap().minor,
            1_500
        );
        assert_eq!(
            Money::parse_decimal("1.234", Currency::Kwd).unwrap().minor,
            1_234
        );
        assert_eq!(
            Money::parse_decimal("100.00", Currency::Bdt).unwrap().minor,
            10_000
        );
    }

    #[test]
    fn prices_group_thousands_with_the_currency_s_own_decimals() {
        let price = |minor, currency| Money::new(minor, currency).to_price_string();
        assert_eq!(price(125_000, Currency::Bdt), "BDT 1,250.00");
        assert_eq!(price(12_500, Currency::Usd), "USD 125.00");
        assert_eq!(price(5, Currency::Usd), "USD 0.05");
        assert_eq!(price(1_250, Currency::Jpy), "JPY 1,250");
        assert_eq!(price(1_250, Currency::Kwd), "KWD 1.250");
        assert_eq!(
            price(123_456_789_012, Currency::Zar),
            "ZAR 1,234,567,890.12"
        );
        assert_eq!(price(100_000, Currency::Jpy), "JPY 100,000");
        assert_eq!(price(-123_456, Currency::Usd), "USD -1,234.56");
    }

    #[test]
    fn refuses_anything_that_is_not_an_exact_plain_decimal() {
        for bad in [
            "-1.00", "+1.00", "1e2", "1E2", "NaN", "nan", "Infinity", "inf", " 1.00", "1.00 ",
            "1,00", "1.", ".5", "1.2.3", "0x10", "１",
        ] {
            assert!(
                matches!(usd(bad), Err(MoneyError::NotDecimal(_))),
                "{bad:?} must be refused, got {:?}",
                usd(bad)
            );
        }
        assert_eq!(usd(""), Err(MoneyError::Empty));
    }

    #[test]
    fn refuses_more_fractional_digits_than_the_currency_has() {
        assert!(matches!(
            usd("1.001"),
            Err(MoneyError::TooPrecise { max: 2, .. })
        ));
        assert!(matches!(usd("1.000"), Err(MoneyError::TooPrecise { .. })));
        let jpy = Money::parse_decimal("1.0", Currency::Jpy);
        assert!(matches!(jpy, Err(MoneyError::TooPrecise { max: 0, .. })));
        let kwd = Money::parse_decimal("1.0001", Currency::Kwd);
        assert!(matches!(kwd, Err(MoneyError::TooPrecise { max: 3, .. })));
    }

    #[test]
    fn refuses_overflow_instead_of_wrapping() {
        assert_eq!(usd("92233720368547758.07"), Ok(i64::MAX));
        assert!(matches!(
            usd("92233720368547758.08"),
            Err(MoneyError::Overflow(_))
        ));
        assert!(matches!(
            usd("99999999999999999999999"),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn problems_say_what_is_wrong_without_the_refused_text() {
        const SECRET: &str = "4111111111111111";
        let refusals = [
            usd("").unwrap_err(),
            usd(&format!("{SECRET}x")).unwrap_err(),
            usd(&format!("1.{SECRET}")).unwrap_err(),
            usd(&format!("{SECRET}{SECRET}")).unwrap_err(),
            Currency::parse(SECRET).unwrap_err(),
        ];
        let problems = refusals.each_ref().map(MoneyError::problem);
        assert_eq!(
            problems,
            [
                "is empty",
                "is not a plain decimal number (digits with at most one `.`)",
                "has more fractional digits than its currency allows",
                "does not fit in 64-bit minor units",
                "is not a currency paymux knows",
            ]
        );
        for (refusal, problem) in refusals.iter().zip(problems) {
            assert!(!problem.contains(SECRET), "{problem}");
            // The display, for callers who may quote their own input, still does.
            assert!(
                refusal.to_string().contains(SECRET) || *refusal == MoneyError::Empty,
                "{refusal}"
            );
        }
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(
            Money::new(10_000, Currency::Usd).to_decimal_string(),
            "100.00"
        );
        assert_eq!(Money::new(5, Currency::Usd).to_decimal_string(), "0.05");
        assert_eq!(Money::new(0, Currency::Usd).to_decimal_string(), "0.00");
        assert_eq!(Money::new(-150, Currency::Usd).to_decimal_string(), "-1.50");
        assert_eq!(Money::new(1_500, Currency::Jpy).to_decimal_string(), "1500");
        assert_eq!(
            Money::new(1_234, Currency::Kwd).to_decimal_string(),
            "1.234"
        );
        assert_eq!(
            Money::new(i64::MIN, Currency::Usd).to_decimal_string(),
            "-92233720368547758.08"
        );
        assert_eq!(Money::new(6_969, Currency::Usd).to_string(), "69.69 USD");
    }

    #[test]
    fn currency_codes_parse_in_any_case_and_serialize_upper_case() {
        assert_eq!(Currency::parse("usd"), Ok(Currency::Usd));
        assert_eq!(Currency::parse("XCD"), Ok(Currency::Xcd));
        assert!(Currency::parse("XXX").is_err());
        assert!(Currency::parse("US").is_err());
        assert_eq!(serde_json::to_string(&Currency::Zar).unwrap(), "\"ZAR\"");
        let bdt: Currency = serde_json::from_str("\"bdt\"").unwrap();
        assert_eq!(bdt, Currency::Bdt);
        assert!(serde_json::from_str::<Currency>("\"EURO\"").is_err());
        for currency in Currency::ALL {
            assert_eq!(Currency::parse(currency.code()), Ok(currency));
        }
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(Currency::ALL.to_vec())
    }

    /// Canonical decimals: no superfluous leading zero, exactly `exponent` fractional digits.
    fn canonical_decimal() -> impl Strategy<Value = (Currency, String)> {
        (any_currency(), 0..=i64::MAX).prop_map(|(currency, minor)| {
            (currency, Money::new(minor, currency).to_decimal_string())
        })
    }

    proptest! {
        #[test]
        fn format_of_parse_round_trips((currency, text) in canonical_decimal()) {
            let money = Money::parse_decimal(&text, currency).unwrap();
            prop_assert_eq!(money.to_decimal_string(), text);
        }

        #[test]
        fn parse_of_format_round_trips(currency in any_currency(), minor in 0..=i64::MAX) {
            let text = Money::new(minor, currency).to_decimal_string();
            prop_assert_eq!(Money::parse_decimal(&text, currency), Ok(Money::new(minor, currency)));
        }

        #[test]
        fn shorter_fractions_scale_exactly(whole in 0u32..1_000_000, tenths in 0u8..10) {
            let text = format!("{whole}.{tenths}");
            let expected = i64::from(whole) * 100 + i64::from(tenths) * 10;
            prop_assert_eq!(usd(&text), Ok(expected));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,24}") {
            let _ = Money::parse_decimal(&text, Currency::Usd);
        }
    }
}
