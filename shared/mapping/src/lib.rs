//! What goes where between Partner Center co-sell referrals and Dataverse rows.
//!
//! This crate is pure: it takes values and returns values or typed errors. No I/O, no async,
//! so every rule here can be read and tested on real payloads without a network.
//!
//! | module | holds |
//! |---|---|
//! | [`referral`] | the Partner Center referral resource and the list page, tolerant of what the service adds |
//! | [`enums`] | the referral's string enums; each keeps values it does not know |
//! | [`status`] | the referral status machine: which moves are legal |
//! | [`category`] | what a referral becomes in the CRM: lead or co-sell opportunity |
//! | [`crm`] | the Dataverse rows we touch (opportunity, account, contact, lead) |
//! | [`inbound`] | the inbound plan: what a referral becomes in Dataverse (pure) |
//! | [`limits`] | Dataverse's column lengths, money ranges and dates, and text cut to fit |
//! | [`marks`] | the ✔/✖ at the end of an opportunity's name, and the name without it |
//! | [`patch`] | [`patch::PatchOp`]: the one JSON Patch operation type |
//! | [`deal`] | [`deal::DealState`]: the canonical deal both directions compare and hash |
//! | [`outbound`] | the outbound plans: what an opportunity becomes in Partner Center (pure) |
//! | [`custom`] | [`custom::Mapping`]: the partner's mapping document (defaults, fields, account rules) |
//! | [`config`] | [`CrmConfig`]: the settings a partner customises, and their `COSELL_*` keys |
//! | [`respond`] | respond-by: which referral waits for an answer, its task row, how an answer closes it |
//! | [`timestamp`] | the RFC 3339 reading and writing used for every referral date |
//! | [`error`] | [`MappingError`] and [`ConfigError`] |

pub mod audit;
pub mod category;
pub mod config;
pub mod crm;
pub mod custom;
pub mod customer_size;
pub mod deal;
mod decimal;
pub mod enums;
pub mod error;
pub mod inbound;
pub mod limits;
pub mod marks;
pub mod metadata;
pub mod outbound;
pub mod patch;
pub mod referral;
pub mod respond;
pub mod schema;
pub mod status;
pub mod timestamp;

pub use category::Category;
pub use config::{CoSellColumns, CrmConfig, ServicesColumns, SolutionColumns};
pub use crm::{
    Account, Contact, CrmRow, Customer, Lead, LeadState, Opportunity, OpportunityState,
    OpportunityStatusReason,
};
pub use custom::HelpOptions;
pub use deal::{DealState, DealStatus};
pub use enums::{
    AssistanceRequestCode, Direction, Qualification, ReferralType, Status, Substatus, TargetType,
};
pub use error::{ConfigError, MappingError};
pub use patch::{PatchOp, PatchOpKind};
pub use referral::{Referral, ReferralPage};
pub use status::{IllegalMove, check_move};
