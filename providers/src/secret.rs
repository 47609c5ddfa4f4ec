//! Secrets named in config: `env:NAME`, `file:PATH`, or a literal (sandbox configs only).
//!
//! A [`SecretRef`] is what the config file says; [`SecretResolver::resolve`] turns it into a
//! [`SecretString`], which never shows its value in `Debug` output or logs.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// Where a secret comes from.
#[derive(Clone)]
pub enum SecretRef {
    /// `env:NAME`: the environment variable `NAME`.
    Env(String),
    /// `file:PATH`: the file's content, without a trailing newline.
    File(PathBuf),
    /// Anything else: the text itself. Only allowed while the sandbox is on, so that real
    /// credentials never sit in a config file.
    Literal(SecretString),
}

impl SecretRef {
    /// The text of a literal secret (the sandbox's fake ones); `None` for a reference to the
    /// environment or a file, whose value must never be shown.
    pub fn literal(&self) -> Option<String> {
        match self {
            SecretRef::Literal(text) => Some(text.expose_secret().to_owned()),
            SecretRef::Env(_) | SecretRef::File(_) => None,
        }
    }

    pub fn parse(text: &str) -> SecretRef {
        if let Some(name) = text.strip_prefix("env:") {
            SecretRef::Env(name.to_owned())
        } else if let Some(path) = text.strip_prefix("file:") {
            SecretRef::File(PathBuf::from(path))
        } else {
            SecretRef::Literal(SecretString::from(text))
        }
    }
}

/// The same place (or the same literal): what a reload compares to see what changed.
impl PartialEq for SecretRef {
    fn eq(&self, other: &SecretRef) -> bool {
        match (self, other) {
            (SecretRef::Env(a), SecretRef::Env(b)) => a == b,
            (SecretRef::File(a), SecretRef::File(b)) => a == b,
            (SecretRef::Literal(a), SecretRef::Literal(b)) => {
                a.expose_secret() == b.expose_secret()
            }
            _ => false,
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Literal(_) => f.write_str("[literal secret]"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    /// Takes text, and also numbers and booleans, which an environment override like
    /// `PAYMUX__…__SECRET=12345678` arrives as: their text is the secret. No error repeats the
    /// value it was given.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl serde::de::Visitor<'_> for SecretVisitor {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret: env:NAME, file:PATH or (sandbox only) its text")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SecretRef, E> {
                if text.is_empty() {
                    return Err(E::custom("a secret must not be empty"));
                }
                Ok(SecretRef::parse(text))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<SecretRef, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<SecretRef, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<SecretRef, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<SecretRef, E> {
                self.visit_str(&value.to_string())
            }
        }
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// Resolves secret references, knowing whether literals are acceptable.
#[derive(Debug, Clone, Copy)]
pub struct SecretResolver {
    pub allow_literals: bool,
}

impl SecretResolver {
    /// The secret's value, or an error saying what is missing (never the value itself).
    pub fn resolve(&self, secret: &SecretRef) -> Result<SecretString, String> {
        match secret {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(SecretString::from(value)),
                Ok(_) => Err(format!("environment variable {name} is empty")),
                Err(_) => Err(format!("environment variable {name} is not set")),
            },
            SecretRef::File(path) => match std::fs::read_to_string(path) {
                Ok(content) => {
                    let value = content.trim_end_matches(['\r', '\n']);
                    if value.is_empty() {
                        Err(format!("secret file {} is empty", path.display()))
                    } else {
                        Ok(SecretString::from(value))
                    }
                }
                Err(error) => Err(format!("cannot read secret file {}: {error}", path.display())),
            },
            SecretRef::Literal(value) if self.allow_literals => Ok(value.clone()),
            SecretRef::Literal(_) => Err(
                "literal secrets are only allowed with sandbox.enabled = true; use env:NAME or file:PATH"
                    .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// `secret` resolved as outside the sandbox, where literal secrets are refused.
    fn resolve_outside_sandbox(secret: &SecretRef) -> Result<SecretString, String> {
        let resolver = SecretResolver {
            allow_literals: false,
        };
        resolver.resolve(secret)
    }

    #[test]
    fn references_parse_by_prefix_and_never_show_literals() {
        assert!(
            matches!(SecretRef::parse("env:SKNPAY_API_KEY"), SecretRef::Env(name) if name == "SKNPAY_API_KEY")
        );
        assert!(matches!(
            SecretRef::parse("file:/run/secrets/key"),
            SecretRef::File(_)
        ));
        let literal = SecretRef::parse("whsec_supersecret");
        assert_eq!(format!("{literal:?}"), "[literal secret]");
        let resolved = SecretResolver {
            allow_literals: true,
        }
        .resolve(&literal)
        .unwrap();
        assert!(!format!("{resolved:?}").contains("supersecret"));
        assert_eq!(resolved.expose_secret(), "whsec_supersecret");
    }

    #[test]
    fn numbers_are_secrets_too_and_errors_never_repeat_values() {
        let secret: SecretRef = serde_json::from_value(serde_json::json!(12_345_678)).unwrap();
        let literals = SecretResolver {
            allow_literals: true,
        };
        let resolved = literals.resolve(&secret).unwrap();
        assert_eq!(resolved.expose_secret(), "12345678");
        let error =
            serde_json::from_value::<SecretRef>(serde_json::json!(["hunter2"])).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn literals_are_refused_outside_the_sandbox() {
        let error = resolve_outside_sandbox(&SecretRef::parse("sk_live_123")).unwrap_err();
        assert!(error.contains("sandbox.enabled"), "{error}");
        assert!(!error.contains("sk_live_123"));
    }

    #[test]
    fn missing_environment_variables_are_named() {
        let error =
            resolve_outside_sandbox(&SecretRef::parse("env:PAYMUX_TEST_SURELY_UNSET_VARIABLE"))
                .unwrap_err();
        assert_eq!(
            error,
            "environment variable PAYMUX_TEST_SURELY_UNSET_VARIABLE is not set"
        );
    }

    #[test]
    fn files_are_read_without_their_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("paymux-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "sk_test_abc\n").unwrap();
        let secret = resolve_outside_sandbox(&SecretRef::File(path.clone())).unwrap();
        assert_eq!(secret.expose_secret(), "sk_test_abc");
        let missing = resolve_outside_sandbox(&SecretRef::File(dir.join("missing"))).unwrap_err();
        assert!(missing.contains("cannot read secret file"), "{missing}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
