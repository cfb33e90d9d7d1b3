//! What a post says: alerts rendered as a Teams Adaptive Card (the payload Teams Workflows'
//! "post to a channel when a webhook request is received" takes: a `message` with one
//! `application/vnd.microsoft.card.adaptive` attachment) or as Slack Block Kit `mrkdwn`. Pure.

use cosell_store::CrmKind;
use serde_json::{Value, json};

use super::{Alert, Event};

/// Where an alert's links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// The Dynamics 365 environment (`https://contoso.crm.dynamics.com`): a record opens at
    /// `main.aspx?pagetype=entityrecord&etn=…&id=…`.
    pub dynamics: String,
    /// A referral in Partner Center, `{id}` replaced by its id. Microsoft documents no address
    /// for it, so it is a setting (`COSELL_PARTNER_CENTER_REFERRAL_URL`).
    pub partner_center: String,
}

/// The default of [`Links::partner_center`].
pub const PARTNER_CENTER_REFERRAL_URL: &str =
    "https://partner.microsoft.com/dashboard/referrals/v2/leads/{id}/details";

impl Links {
    fn record(&self, kind: CrmKind, id: uuid::Uuid) -> String {
        let table = match kind {
            CrmKind::Opportunity => "opportunity",
            CrmKind::Lead => "lead",
        };
        let base = self.dynamics.trim_end_matches('/');
        format!("{base}/main.aspx?pagetype=entityrecord&etn={table}&id={id}")
    }

    fn referral(&self, id: &str) -> String {
        self.partner_center.replace("{id}", id)
    }
}

/// One alert's headline and its lines: plain text, links as `(label, url)`.
pub struct Rendered {
    pub headline: String,
    pub detail: Option<String>,
    pub links: Vec<(&'static str, String)>,
}

pub fn render(alert: &Alert, links: &Links) -> Rendered {
    let deal = alert.deal.as_deref().unwrap_or("a referral");
    let id = alert.referral_id.as_deref().unwrap_or(&alert.subject);
    let headline = match alert.event {
        Event::New => format!("New referral from Microsoft: {deal} ({id})"),
        Event::Expiring => match alert.days_left {
            Some(days) if days <= 0 => {
                format!("Referral {deal} ({id}) expires today — accept or decline it")
            }
            Some(1) => format!("Referral {deal} ({id}) expires in 1 day — accept or decline it"),
            Some(days) => {
                format!("Referral {deal} ({id}) expires in {days} days — accept or decline it")
            }
            None => format!("Referral {deal} ({id}) expires soon — accept or decline it"),
        },
        Event::Accepted => format!("Microsoft accepted the co-sell referral {deal} ({id})"),
        Event::Declined => format!("Microsoft declined the co-sell referral {deal} ({id})"),
        Event::Dead => format!(
            "A sync gave up: {} — fix the cause, then run `cosell replay {}`",
            alert.subject, alert.subject
        ),
    };
    let mut rendered_links = Vec::new();
    if let Some((kind, record)) = alert.record {
        rendered_links.push(("Dynamics 365", links.record(kind, record)));
    }
    if let Some(referral) = &alert.referral_id {
        rendered_links.push(("Partner Center", links.referral(referral)));
    }
    Rendered {
        headline: cut(headline),
        detail: alert.detail.clone().map(cut),
        links: rendered_links,
    }
}

/// At most [`MAX_TEXT`] characters: a long error must not make a post too large to take
/// (Slack's section text holds 3,000).
fn cut(text: String) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_TEXT - 1).collect();
    cut.push('…');
    cut
}

/// The longest headline or detail an alert carries.
const MAX_TEXT: usize = 500;

/// One Teams message for `alerts` (an Adaptive Card, one container per alert), with `more`
/// alerts left for the next post named in a last line.
pub fn teams(alerts: &[Alert], links: &Links) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": "cosell", "weight": "Bolder", "size": "Medium"
    })];
    for alert in alerts {
        let rendered = render(alert, links);
        let mut items = vec![json!({"type": "TextBlock", "text": rendered.headline, "wrap": true})];
        if let Some(detail) = rendered.detail {
            items
                .push(json!({"type": "TextBlock", "text": detail, "wrap": true, "isSubtle": true}));
        }
        if !rendered.links.is_empty() {
            let text: Vec<String> = rendered
                .links
                .iter()
                .map(|(label, url)| format!("[{label}]({url})"))
                .collect();
            items.push(json!({"type": "TextBlock", "text": text.join(" · "), "wrap": true}));
        }
        body.push(json!({"type": "Container", "separator": true, "items": items}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

/// One Slack message for `alerts`: a `text` fallback and a section per alert.
pub fn slack(alerts: &[Alert], links: &Links) -> Value {
    let mut blocks = Vec::new();
    let mut fallback = Vec::new();
    for alert in alerts {
        let rendered = render(alert, links);
        let mut text = format!("*{}*", slack_escape(&rendered.headline));
        if let Some(detail) = &rendered.detail {
            text.push_str(&format!("\n{}", slack_escape(detail)));
        }
        if !rendered.links.is_empty() {
            let links: Vec<String> = rendered
                .links
                .iter()
                .map(|(label, url)| format!("<{url}|{label}>"))
                .collect();
            text.push_str(&format!("\n{}", links.join(" · ")));
        }
        fallback.push(rendered.headline);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    json!({"text": fallback.join("\n"), "blocks": blocks})
}

/// Slack's three control characters in text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links {
            dynamics: "https://contoso.crm.dynamics.com/".into(),
            partner_center: "https://pc.example/r/{id}".into(),
        }
    }

    fn expiring() -> Alert {
        Alert {
            deal: Some("Contoso <Azure>".into()),
            referral_id: Some("r-1".into()),
            record: Some((CrmKind::Opportunity, uuid::Uuid::from_u128(1))),
            days_left: Some(2),
            ..Alert::new(Event::Expiring, "r-1")
        }
    }

    #[test]
    fn an_alert_names_the_deal_and_links_both_sides() {
        let rendered = render(&expiring(), &links());
        assert_eq!(
            rendered.headline,
            "Referral Contoso <Azure> (r-1) expires in 2 days — accept or decline it"
        );
        assert_eq!(
            rendered.links,
            [
                (
                    "Dynamics 365",
                    format!(
                        "https://contoso.crm.dynamics.com/main.aspx?pagetype=entityrecord&etn=opportunity&id={}",
                        uuid::Uuid::from_u128(1)
                    )
                ),
                ("Partner Center", "https://pc.example/r/r-1".to_owned())
            ]
        );
        let dead = render(&Alert::new(Event::Dead, "outbound:x"), &links());
        assert!(dead.headline.contains("cosell replay outbound:x"));
        let long = Alert {
            detail: Some("x".repeat(5000)),
            ..Alert::new(Event::Dead, "outbound:x")
        };
        assert_eq!(render(&long, &links()).detail.unwrap().chars().count(), 500);
    }

    #[test]
    fn teams_gets_an_adaptive_card_and_slack_escaped_mrkdwn() {
        let card = teams(&[expiring(), expiring()], &links());
        let attachment = &card["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(attachment["content"]["type"], "AdaptiveCard");
        assert_eq!(attachment["content"]["body"].as_array().unwrap().len(), 3);
        let slack = slack(&[expiring()], &links());
        let text = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.contains("Contoso &lt;Azure&gt;"), "{text}");
        assert!(text.contains("<https://pc.example/r/r-1|Partner Center>"));
    }
}
