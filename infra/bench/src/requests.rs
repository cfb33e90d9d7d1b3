//! Requests per operation, from the simulators' counters: each operation done `count` times,
//! one at a time, through the webhook handlers, and the counters' difference divided by
//! `count`. The first referral is done apart first: it also looks up the currency's id and the
//! seller's user and signs both clients in, which later syncs reuse. Every referral is one
//! Microsoft sent, waiting for an answer and naming the partner's seller: its create also
//! creates the seller's task, and its accept closes it.

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::counts::Counts;
use crate::deliver::{self, Answer, Delivery};
use crate::seed;
use crate::stack::{Options, Stack};

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub name: &'static str,
    /// The handler's answer each time (`synced`, `duplicate`…).
    pub answer: &'static str,
    pub count: usize,
    pub per_operation: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The process's first referral (token sign-ins, the currency lookup).
    pub first_referral: Counts,
    pub inbound_new: Operation,
    pub inbound_update: Operation,
    pub inbound_duplicate: Operation,
    pub inbound_unchanged: Operation,
    /// Microsoft's seller accepts it in Partner Center: the record goes In Progress and the
    /// task is completed.
    pub inbound_accept: Operation,
    pub outbound_create: Operation,
    pub outbound_update: Operation,
    pub outbound_unchanged: Operation,
}

pub async fn run(count: usize) -> anyhow::Result<Outcome> {
    let stack = Stack::start(Options::default()).await?;
    let currency = seed::currency(&stack)?;
    seed::seller(&stack)?;
    let ids = seed::referrals(&stack, 0, count + 1)?;
    let (first, ids) = ids.split_first().context("at least one referral")?;

    let before = Counts::now(&stack);
    expect(
        Delivery::new("referral-created", first)
            .send(&stack)
            .await?,
        "synced",
    )?;
    let first_referral = Counts::now(&stack).minus(&before);

    let created: Vec<Delivery> = ids
        .iter()
        .map(|id| Delivery::new("referral-created", id))
        .collect();
    let inbound_new = measure(&stack, "new referral", "synced", &created).await?;

    // Microsoft's seller changes each deal value in Partner Center (an admin edit: not counted).
    for (n, id) in ids.iter().enumerate() {
        microsoft_edits(&stack, id, json!({"details": {"dealValue": 500_000 + n}})).await?;
    }
    let updates: Vec<Delivery> = ids
        .iter()
        .map(|id| Delivery::new("referral-updated", id))
        .collect();
    let inbound_update = measure(&stack, "referral update", "synced", &updates).await?;
    // The same deliveries again: Partner Center redelivering.
    let inbound_duplicate =
        measure(&stack, "no-op: duplicate delivery", "duplicate", &updates).await?;
    // A new event for a referral that did not change since its last sync.
    let unchanged: Vec<Delivery> = ids
        .iter()
        .map(|id| Delivery::new("referral-updated", id))
        .collect();
    let inbound_unchanged =
        measure(&stack, "no-op: referral unchanged", "unchanged", &unchanged).await?;
    // Microsoft's seller accepts each (an admin edit: not counted).
    for id in ids {
        microsoft_edits(
            &stack,
            id,
            json!({"status": "Active", "substatus": "Accepted"}),
        )
        .await?;
    }
    let accepted: Vec<Delivery> = ids
        .iter()
        .map(|id| Delivery::new("referral-updated", id))
        .collect();
    let inbound_accept = measure(&stack, "referral accepted", "synced", &accepted).await?;

    let deals = (0..count)
        .map(|n| seed::deal(&stack, currency, n))
        .collect::<anyhow::Result<Vec<Uuid>>>()?;
    let outbound_create =
        measure_outbound(&stack, "deal created", "created", &deals, |_| Ok(())).await?;
    let outbound_update = measure_outbound(&stack, "deal edited", "updated", &deals, |(n, id)| {
        seed::edit_value(&stack, id, 2_000_000 + n as u64)
    })
    .await?;
    let outbound_unchanged =
        measure_outbound(&stack, "no-op: deal unchanged", "unchanged", &deals, |_| {
            Ok(())
        })
        .await?;

    Ok(Outcome {
        first_referral,
        inbound_new,
        inbound_update,
        inbound_duplicate,
        inbound_unchanged,
        inbound_accept,
        outbound_create,
        outbound_update,
        outbound_unchanged,
    })
}

/// An edit in Partner Center as Microsoft's seller makes it (the admin route: not counted).
async fn microsoft_edits(stack: &Stack, id: &str, patch: serde_json::Value) -> anyhow::Result<()> {
    let url = format!(
        "{}/_admin/partner-center/referrals/{id}",
        stack.sim.base_url
    );
    let response = stack.client.patch(url).json(&patch).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "editing referral {id}: {}",
        response.status()
    );
    Ok(())
}

fn expect(answer: Answer, word: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        answer.is(word),
        "expected '{word}', the handler answered {} {}",
        answer.status,
        answer.text
    );
    Ok(())
}

async fn measure(
    stack: &Stack,
    name: &'static str,
    answer: &'static str,
    deliveries: &[Delivery],
) -> anyhow::Result<Operation> {
    let before = Counts::now(stack);
    for delivery in deliveries {
        expect(delivery.send(stack).await?, answer)
            .with_context(|| format!("{name}: referral {}", delivery.referral_id))?;
    }
    Ok(Operation {
        name,
        answer,
        count: deliveries.len(),
        per_operation: Counts::now(stack).minus(&before).per(deliveries.len()),
    })
}

async fn measure_outbound(
    stack: &Stack,
    name: &'static str,
    answer: &'static str,
    deals: &[Uuid],
    edit: impl Fn((usize, Uuid)) -> anyhow::Result<()>,
) -> anyhow::Result<Operation> {
    let before = Counts::now(stack);
    for (n, id) in deals.iter().enumerate() {
        edit((n, *id))?;
        expect(deliver::dataverse_update(stack, *id).await?, answer)
            .with_context(|| format!("{name}: opportunity {id}"))?;
    }
    Ok(Operation {
        name,
        answer,
        count: deals.len(),
        per_operation: Counts::now(stack).minus(&before).per(deals.len()),
    })
}
