//! The hosted payment page frame every simulated provider shares: the amount, the status, the
//! provider's extra fields, and buttons that call the control endpoint, exactly as a test would.

use html_escape::encode_quoted_attribute as escape;

use crate::simulator::HostedPage;

/// The page for `page` of `provider`, whose control endpoint is `control_base` + outcome.
pub fn render(provider: &str, page: &HostedPage, control_base: &str) -> String {
    let amount = page
        .amount
        .map(|money| money.to_string())
        .unwrap_or_else(|| "any amount".to_owned());
    let description = page.description.as_deref().map(escape).unwrap_or_default();
    let fields: String = page
        .fields
        .iter()
        .map(|(name, label, placeholder)| {
            format!(
                r#"<label>{label} <input name="{name}" placeholder="{placeholder}" value="{placeholder}"></label>"#,
                label = escape(label),
                name = escape(name),
                placeholder = escape(placeholder),
            )
        })
        .collect();
    let buttons = if page.open {
        ["pay", "decline", "cancel", "expire"]
            .iter()
            .map(|outcome| format!(r#"<button data-outcome="{outcome}">{outcome}</button>"#))
            .collect::<String>()
    } else {
        "<p>This checkout no longer accepts payment.</p>".to_owned()
    };
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{provider} sandbox checkout</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }}
.amount {{ font-size: 2rem; margin: .5rem 0; }}
label {{ display: block; margin: 1rem 0; }}
input {{ width: 100%; padding: .4rem; font-family: monospace; }}
button {{ margin: .25rem .25rem 0 0; padding: .5rem 1rem; }}
#result {{ white-space: pre-wrap; font-family: monospace; font-size: .8rem; }}
</style>
</head>
<body>
<p><strong>{provider}</strong> sandbox: no real money moves.</p>
<div class="amount">{amount}</div>
<p>{description}</p>
<p>Status: <span id="status">{status}</span></p>
<form id="checkout" onsubmit="return false">{fields}{buttons}</form>
<pre id="result"></pre>
<script>
document.querySelectorAll("button[data-outcome]").forEach(function (button) {{
  button.addEventListener("click", async function () {{
    var options = {{}};
    document.querySelectorAll("#checkout input").forEach(function (input) {{ options[input.name] = input.value; }});
    var response = await fetch("{control_base}" + button.dataset.outcome, {{
      method: "POST", headers: {{ "content-type": "application/json" }}, body: JSON.stringify(options)
    }});
    var result = await response.json();
    document.getElementById("result").textContent = JSON.stringify(result, null, 2);
    if (result.status) document.getElementById("status").textContent = result.status;
    if (result.redirect_url) setTimeout(function () {{ window.location = result.redirect_url; }}, 1500);
  }});
}});
</script>
</body>
</html>
"##,
        provider = escape(provider),
        status = escape(&page.status),
        control_base = escape(control_base),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use paymux_domain::{Currency, Money};

    #[test]
    fn the_page_escapes_what_it_shows_and_offers_buttons_while_open() {
        let page = HostedPage {
            amount: Some(Money::new(12_500, Currency::Usd)),
            description: Some("<script>alert(1)</script>".into()),
            status: "open".into(),
            open: true,
            fields: vec![("card", "Card number", "4111 1111 1111 1111".to_owned())],
        };
        let html = render("sknpay", &page, "/sandbox/sknpay/checkouts/plink_1/");
        assert!(html.contains("125.00 USD"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains(r#"data-outcome="pay""#));
        assert!(html.contains(r#"name="card""#));
        let closed = render(
            "sknpay",
            &HostedPage {
                open: false,
                ..page
            },
            "/x/",
        );
        assert!(!closed.contains(r#"data-outcome="pay""#));
        assert!(closed.contains("no longer accepts payment"));
    }
}
