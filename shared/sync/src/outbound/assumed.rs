//! The referral as we last agreed on it, without reading it: what an update plans against when
//! the link holds an eTag. The patch carries `If-Match` with that eTag, so if Partner Center's
//! referral is anything else the answer is 412, and the update reads the real one and plans again.
//! One request per update instead of two.
//!
//! Only the fields [`DealState`] keeps are known; the status is the one a [`DealStatus`] stands
//! for (In Progress as `Active/Accepted`, On Hold as an incoming `New/Pending`). `details` and
//! `consent` are present, so the plan writes `replace`s into them (Partner Center keeps both on
//! every referral).

use cosell_mapping::deal::{DealState, DealStatus};
use cosell_mapping::referral::{Consent, Details};
use cosell_mapping::{Direction, Referral, Status, Substatus};
use time::{Date, OffsetDateTime, Time};

/// The referral `id` at `etag`, in the `agreed` state.
pub fn referral(id: &str, agreed: &DealState, etag: &str) -> Referral {
    let (status, substatus, direction) = match agreed.status {
        Some(DealStatus::OnHold) => (
            Some(Status::New),
            Some(Substatus::Pending),
            Some(Direction::Incoming),
        ),
        Some(DealStatus::InProgress) => (Some(Status::Active), Some(Substatus::Accepted), None),
        Some(DealStatus::Won) => (Some(Status::Closed), Some(Substatus::Won), None),
        Some(DealStatus::Lost) => (Some(Status::Closed), Some(Substatus::Lost), None),
        None => (None, None, None),
    };
    Referral {
        id: Some(id.to_owned()),
        name: agreed.name.clone(),
        status,
        substatus,
        direction,
        etag: Some(etag.to_owned()),
        consent: Some(Consent {
            consent_to_share_referral_with_microsoft_sellers: Some(agreed.visible),
            ..Consent::default()
        }),
        details: Some(Details {
            notes: agreed.notes.clone(),
            deal_value: agreed.deal_value,
            currency: agreed.currency.clone(),
            closing_date_time: agreed.close_date.map(midnight),
            ..Details::default()
        }),
        ..Referral::default()
    }
}

fn midnight(date: Date) -> OffsetDateTime {
    date.with_time(Time::MIDNIGHT).assume_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assumed_referral_states_the_agreed_deal() {
        let agreed = DealState {
            name: Some("Contoso - Azure".into()),
            deal_value: Some("1250.5".parse().unwrap()),
            currency: Some("EUR".into()),
            close_date: Some(time::macros::date!(2026 - 06 - 30)),
            notes: Some("notes".into()),
            visible: true,
            status: Some(DealStatus::OnHold),
            mapped: Default::default(),
            mapping_version: None,
        };
        let referral = referral("r-1", &agreed, "\"e1\"");
        assert_eq!(DealState::from_referral(&referral), agreed);
        for status in [DealStatus::InProgress, DealStatus::Won, DealStatus::Lost] {
            let agreed = DealState {
                status: Some(status),
                ..agreed.clone()
            };
            assert_eq!(
                DealState::from_referral(&super::referral("r-1", &agreed, "e")),
                agreed
            );
        }
    }
}
