//! Reading JSON that anyone can send: a bound on its nesting, and error messages without its
//! values.
//!
//! Webhooks arrive unauthenticated, so a body is read before anyone knows who sent it. A
//! recursive parser or scanner given objects nested thousands deep overflows its thread's stack,
//! which aborts the whole process: [`check_depth`] is one pass over the bytes with a counter,
//! needs no valid JSON (it only counts brackets outside strings) and cannot itself recurse.
//!
//! serde's messages quote the values they refused (`invalid type: string "…"`), and those
//! messages reach logs and stored receipts: [`describe_error`] keeps what was wrong and where,
//! never the value.

/// The deepest nesting paymux reads anywhere. No provider's payload or API request comes close
/// (the deepest documented one nests five levels).
pub const MAX_DEPTH: usize = 64;

/// A body nesting objects and arrays deeper than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the body nests objects and arrays deeper than {limit} levels")]
pub struct TooDeep {
    pub limit: usize,
}

/// Checks that `body` nests no deeper than `limit`, counting `{` and `[` outside strings. Bytes
/// that are not JSON are only counted, never refused: parsing comes later.
pub fn check_depth(body: &[u8], limit: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// What is wrong with a body serde refused, without quoting any of it: the kind of problem,
/// what the schema expected (our own words), and where (line and column). An error from
/// reading a `serde_json::Value` (or from writing one) has no position: it gets none.
pub fn describe_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let problem = match error.classify() {
        Category::Io => return "the body could not be read".to_owned(),
        Category::Eof => "the JSON ends early".to_owned(),
        Category::Syntax => "the body is not valid JSON".to_owned(),
        Category::Data => data_problem(&error.to_string()),
    };
    if error.line() == 0 {
        return problem;
    }
    format!(
        "{problem} at line {} column {}",
        error.line(),
        error.column()
    )
}

/// The value-free part of a serde data error. serde writes `<problem>: <what it found>,
/// expected <what the type wants>` (or `unknown variant `…`, expected …`): the found value is
/// dropped, the expectation kept. `missing field `x`` and `duplicate field `x`` name a field
/// of our own types. Any other message may be a type's own and quote a value: it becomes a
/// plain "invalid value".
fn data_problem(message: &str) -> String {
    // serde_json appends the position, which the caller adds back.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        return message.to_owned();
    }
    let kinds = [
        ("invalid type", "invalid type"),
        ("invalid value", "invalid value"),
        ("invalid length", "invalid length"),
        ("unknown variant", "unknown variant"),
        ("unknown field", "unknown field"),
    ];
    let kind = kinds
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map_or("invalid value", |(_, kind)| kind);
    match message.rsplit_once(", expected ") {
        Some((_, expected)) if kinds.iter().any(|(prefix, _)| message.starts_with(prefix)) => {
            format!("{kind}, expected {expected}")
        }
        _ => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &[u8]) -> Result<(), TooDeep> {
        check_depth(body, MAX_DEPTH)
    }

    fn nested(open: &str, close: &str, depth: usize) -> Vec<u8> {
        format!("{}1{}", open.repeat(depth), close.repeat(depth)).into_bytes()
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_level_does_not() {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            assert_eq!(check(&nested(open, close, MAX_DEPTH)), Ok(()));
            assert_eq!(
                check(&nested(open, close, MAX_DEPTH + 1)),
                Err(TooDeep { limit: MAX_DEPTH })
            );
        }
        // Siblings do not add up: only the depth counts.
        let wide = "[[1],".repeat(10_000) + "[]" + &"]".repeat(10_000);
        assert_eq!(check(wide.as_bytes()), Err(TooDeep { limit: 64 }));
        let flat = format!("[{}1]", "[1],".repeat(10_000));
        assert_eq!(check(flat.as_bytes()), Ok(()));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!(r#"{{"a":"{}","b":"\"[[[","c":"\\"}}"#, "[{".repeat(1000));
        assert_eq!(check(text.as_bytes()), Ok(()));
        // An escaped backslash ends the escape: the quote after it closes the string.
        let text = format!(r#"["\\"{}]"#, "[".repeat(100));
        assert!(check(text.as_bytes()).is_err());
    }

    #[test]
    fn closing_brackets_without_openers_do_not_underflow() {
        let text = format!("{}{}", "]".repeat(100), "[".repeat(MAX_DEPTH));
        assert_eq!(check(text.as_bytes()), Ok(()));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        amount: u64,
        kind: Kind,
        tags: Option<[String; 2]>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Paid,
    }

    fn describe(body: &str) -> String {
        describe_error(&serde_json::from_str::<Shape>(body).unwrap_err())
    }

    #[test]
    fn errors_say_what_was_wrong_without_the_values() {
        const SECRET: &str = "CUSTOMER-SECRET-4111";
        for (body, expected) in [
            (
                format!(r#"{{"amount":"{SECRET}","kind":"paid"}}"#),
                "invalid type, expected u64 at line 1 column",
            ),
            (
                format!(r#"{{"amount":1,"kind":"{SECRET}"}}"#),
                "unknown variant, expected `paid` at line 1 column",
            ),
            (
                format!(r#"{{"amount":1,"kind":"paid","{SECRET}":1}}"#),
                "unknown field, expected one of",
            ),
            (
                format!(r#"{{"amount":1,"kind":"paid","tags":["{SECRET}"]}}"#),
                "invalid length, expected an array of length 2",
            ),
            (r#"{"kind":"paid"}"#.to_owned(), "missing field `amount`"),
            (
                format!(r#"{{"amount":1,{SECRET}}}"#),
                "the body is not valid JSON at line 1",
            ),
            (format!(r#"{{"amount":"{SECRET}"#), "the JSON ends early"),
        ] {
            let described = describe(&body);
            assert!(described.starts_with(expected), "{body}: {described}");
            assert!(!described.contains(SECRET), "{described}");
        }
        // Read from a `Value`, an error has no position to give.
        let value = serde_json::json!({ "amount": SECRET, "kind": "paid" });
        let error = serde_json::from_value::<Shape>(value).unwrap_err();
        assert_eq!(describe_error(&error), "invalid type, expected u64");
        // A repeated field is named: the name is our type's own.
        let error = serde_json::from_str::<Shape>(r#"{"amount":1,"amount":2}"#).unwrap_err();
        assert!(
            describe_error(&error).starts_with("duplicate field `amount` at line 1"),
            "{error}"
        );
        // A type's own message may quote what it refused: only its kind is kept.
        let error =
            serde_json::from_str::<std::net::Ipv4Addr>(&format!("\"{SECRET}\"")).unwrap_err();
        assert!(!describe_error(&error).contains(SECRET), "{error}");
    }

    #[test]
    fn the_message_names_the_limit() {
        assert!(TooDeep { limit: 64 }.to_string().contains("64 levels"));
    }
}
