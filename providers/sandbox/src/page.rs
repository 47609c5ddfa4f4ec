//! The one template of every simulated provider's pages: a checkout's form, the page of a
//! checkout that no longer takes payment, and a page saying what went wrong. A provider's
//! [`Look`] gives it its name and colour; everything shown is escaped (maud escapes every
//! value spliced in). No script: the forms post to the page's own URL, and the stylesheet is
//! a file of its own, so the pages work under a CSP that allows neither inline script nor
//! inline style.

use maud::{DOCTYPE, Markup, html};

use crate::simulator::{Field, HostedPage, Look, Outcome, Standing};

/// What every page says across its top.
pub const RIBBON: &str = "Sandbox — no real money moves";

/// The style every simulator's pages share; [`stylesheet`] puts the provider's colours first.
const STYLE: &str = include_str!("page.css");

/// What a page is drawn with: its provider's look and where its stylesheet is.
#[derive(Debug, Clone)]
pub struct Shell {
    pub look: &'static Look,
    pub stylesheet: String,
}

/// `look`'s stylesheet: its colours, then the shared style.
pub fn stylesheet(look: &Look) -> String {
    format!(
        ":root {{ --brand: {}; --on-brand: {}; }}\n{STYLE}",
        look.colour, look.on_colour
    )
}

/// The page of an open checkout: what is paid to whom, the provider's form, and a button per
/// outcome the simulator takes; `notice` says how the last attempt went.
pub fn checkout(shell: &Shell, page: &HostedPage, notice: Option<&str>) -> Markup {
    let (pay, others): (Vec<Outcome>, Vec<Outcome>) = page
        .outcomes
        .iter()
        .partition(|outcome| **outcome == Outcome::Pay);
    document(
        shell,
        &format!("Pay {}", page.merchant),
        html! {
            (summary(page))
            @if let Some(notice) = notice {
                p.notice role="alert" { (notice) }
            }
            // No action: the form posts to the page's own URL.
            form method="post" {
                @if !page.form.is_empty() {
                    fieldset { @for field in &page.form { (input(field)) } }
                }
                @for outcome in pay {
                    button.pay type="submit" name="outcome" value=(outcome.as_str()) {
                        (shell.look.pay_label)
                    }
                }
                fieldset.sandbox {
                    legend { "Sandbox" }
                    @for field in &page.sandbox_options { (input(field)) }
                    p.outcomes {
                        @for outcome in others {
                            button type="submit" name="outcome" value=(outcome.as_str()) {
                                (outcome_label(outcome))
                            }
                        }
                    }
                }
            }
            (status(shell, page))
        },
    )
}

/// The page of a checkout that takes no more payment: paid, canceled or expired.
pub fn closed(shell: &Shell, page: &HostedPage) -> Markup {
    let (title, text) = match page.standing {
        Standing::Paid => ("Payment complete", "The merchant has been paid."),
        Standing::Canceled => ("Payment canceled", "Nothing was charged."),
        Standing::Expired => ("Payment link expired", "Nothing was charged."),
        Standing::Open => ("Awaiting payment", "This payment is still open."),
    };
    document(
        shell,
        title,
        html! {
            (summary(page))
            h1 { (title) }
            p { (text) " This page takes no more payment." }
            (status(shell, page))
        },
    )
}

/// A page that only says `title` and `message`, with a link back to the payment page when
/// `back` (the page still takes payment).
pub fn message(shell: &Shell, title: &str, message: &str, back: bool) -> Markup {
    document(
        shell,
        title,
        html! {
            h1 { (title) }
            p { (message) }
            @if back {
                // An empty href is the page itself: the payment page this answer came from.
                p { a href="" { "Back to the payment page" } }
            }
        },
    )
}

/// The shell of every page: the ribbon, the provider's band, the content.
fn document(shell: &Shell, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (shell.look.name) " (sandbox)" }
                link rel="stylesheet" href=(&shell.stylesheet);
            }
            body {
                p.ribbon role="note" { (RIBBON) }
                header.band { span.provider { (shell.look.name) } }
                main { (content) }
            }
        }
    }
}

/// Whom, how much, what for.
fn summary(page: &HostedPage) -> Markup {
    html! {
        p.merchant { "Pay " strong { (page.merchant) } }
        p.amount {
            @match page.amount {
                Some(amount) => (amount.to_price_string()),
                None => "Any amount",
            }
        }
        @if let Some(description) = &page.description {
            p.description { (description) }
        }
    }
}

fn status(shell: &Shell, page: &HostedPage) -> Markup {
    html! { p.status { "Status at " (shell.look.name) ": " (page.status) } }
}

fn input(field: &Field) -> Markup {
    let choices = format!("{}-choices", field.name);
    html! {
        label {
            (field.label)
            input name=(field.name) value=(field.value) autocomplete=(field.autocomplete)
                list=[(!field.suggestions.is_empty()).then_some(&choices)];
        }
        @if !field.suggestions.is_empty() {
            datalist id=(choices) {
                @for (value, effect) in &field.suggestions {
                    option value=(value) { (effect) }
                }
            }
        }
    }
}

/// What the button of an outcome other than paying says.
fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pay => "Pay",
        Outcome::Decline => "Decline",
        Outcome::Cancel => "Cancel payment",
        Outcome::Expire => "Expire the link",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paymux_domain::{Currency, Money};

    const LOOK: Look = Look {
        name: "Test Pay",
        colour: "#123456",
        on_colour: "#ffffff",
        pay_label: "Pay now",
    };

    fn shell() -> Shell {
        Shell {
            look: &LOOK,
            stylesheet: "/sandbox/test/page.css".to_owned(),
        }
    }

    fn page() -> HostedPage {
        HostedPage {
            merchant: "Bob's <b>Shop</b>".into(),
            amount: Some(Money::new(125_000, Currency::Bdt)),
            description: Some("<script>alert(1)</script>".into()),
            status: "open".into(),
            standing: Standing::Open,
            form: Field::card_form(&[("4111 1111 1111 1111", "pays")], Some("\"Ann\" <x>")),
            sandbox_options: vec![Field::new("verify", "Verify answers", "pass")],
            outcomes: &Outcome::ALL,
            notice: None,
        }
    }

    #[test]
    fn the_page_escapes_what_it_shows_and_offers_the_outcomes_while_open() {
        let html = checkout(&shell(), &page(), Some("<i>declined</i>")).into_string();
        assert!(html.contains("BDT 1,250.00"), "{html}");
        assert!(html.contains("Bob's &lt;b&gt;Shop&lt;/b&gt;"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"), "no script at all: {html}");
        assert!(!html.contains("<b>Shop"));
        assert!(html.contains("&lt;i&gt;declined&lt;/i&gt;"));
        assert!(
            html.contains("value=\"&quot;Ann&quot; &lt;x&gt;\""),
            "{html}"
        );
        assert!(html.contains(RIBBON));
        assert!(html.contains(r#"href="/sandbox/test/page.css""#));
        for outcome in ["pay", "decline", "cancel", "expire"] {
            assert!(
                html.contains(&format!(r#"name="outcome" value="{outcome}""#)),
                "{outcome}"
            );
        }
        assert!(html.contains("Pay now"));
        assert!(html.contains(r#"name="card" value="4111 1111 1111 1111""#));
        assert!(html.contains(r#"list="card-choices""#));
        assert!(html.contains(r#"<option value="4111 1111 1111 1111">pays</option>"#));
        assert!(html.contains(r#"name="verify" value="pass""#));
        assert!(!html.contains("{"), "no JSON shown: {html}");
    }

    #[test]
    fn a_closed_page_says_so_and_offers_no_button() {
        let paid = HostedPage {
            standing: Standing::Paid,
            status: "succeeded".into(),
            ..page()
        };
        let html = closed(&shell(), &paid).into_string();
        assert!(html.contains("Payment complete"));
        assert!(html.contains("BDT 1,250.00"));
        assert!(html.contains(RIBBON));
        assert!(!html.contains("<button") && !html.contains("<form"));
        assert!(!html.contains("<script"));
        let expired = HostedPage {
            standing: Standing::Expired,
            ..page()
        };
        assert!(
            closed(&shell(), &expired)
                .into_string()
                .contains("Payment link expired")
        );
    }

    #[test]
    fn a_message_page_escapes_its_message() {
        let html = message(&shell(), "No such payment", "no `<x>`", true).into_string();
        assert!(html.contains("no `&lt;x&gt;`"));
        assert!(html.contains("Back to the payment page"));
        assert!(html.contains(RIBBON));
        assert!(
            !message(&shell(), "t", "m", false)
                .into_string()
                .contains("Back to")
        );
    }

    #[test]
    fn the_stylesheet_starts_with_the_provider_s_colours() {
        let css = stylesheet(&LOOK);
        assert!(css.starts_with(":root { --brand: #123456; --on-brand: #ffffff; }"));
        assert!(css.contains(".ribbon"));
    }
}
