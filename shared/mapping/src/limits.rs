//! Dataverse's limits on what the inbound rows write, so a referral whose data exceeds them is
//! fitted (text) or refused with a sentence (money, dates) before any write — the real service
//! would answer 400, and the data, being Microsoft's, is nothing a seller can fix.
//!
//! Column lengths come from table metadata when it was read ([`crate::metadata::Discovered`]),
//! else from Microsoft's published table reference ([`Limits::documented`]). Text longer than
//! its column is cut, ending in "…", and the cut is said in Audit ([`Cut`]); the agreed deal
//! records the cut value, so a cut name or description never reads as a seller's edit.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use time::Date;
use time::macros::date;

/// Published maximum lengths, in characters, of the columns the inbound sync writes.
///
/// Sources: Microsoft's table reference — `MicrosoftDocs/dynamics-365-customer-engagement`
/// `ce/developer/entities/opportunity.md` and `lead.md`; `MicrosoftDocs/powerapps-docs`
/// `powerapps-docs/developer/data-platform/reference/entities/account.md` and `contact.md`
/// (each attribute's `MaxLength`).
const DOCUMENTED_LENGTHS: &[(&str, usize)] = &[
    ("opportunity.name", 300),
    ("opportunity.description", 2000),
    ("account.name", 160),
    ("account.address1_line1", 250),
    ("account.address1_city", 80),
    ("account.address1_stateorprovince", 50),
    ("account.address1_postalcode", 20),
    ("contact.firstname", 50),
    ("contact.lastname", 50),
    ("contact.emailaddress1", 100),
    ("contact.telephone1", 50),
    ("lead.subject", 300),
    ("lead.firstname", 50),
    ("lead.lastname", 50),
    ("lead.companyname", 100),
    ("lead.emailaddress1", 100),
    ("lead.telephone1", 50),
    ("lead.address1_line1", 250),
    ("lead.address1_city", 80),
    ("lead.address1_stateorprovince", 50),
    ("lead.address1_postalcode", 20),
    ("lead.description", 2000),
];

/// The Money type's own bounds (`MoneyAttributeMetadata.MaxSupportedValue`, 922337203685477):
/// a column's range lies within them.
pub const MONEY_SUPPORTED: Decimal = Decimal::from_parts(1_566_804_069, 214_748, 0, false, 0);

/// The earliest date Dataverse stores ("You can store values as early as 1/1/1753 12:00 AM":
/// `powerapps-docs/maker/data-platform/create-edit-field-portal.md`).
pub const EARLIEST_DATE: Date = date!(1753 - 01 - 01);
/// The latest: not published for Dataverse; SQL Server's `datetime` ends here.
pub const LATEST_DATE: Date = date!(9999 - 12 - 31);

/// Published ranges of money columns (`MinValue`, `MaxValue`): opportunity `estimatedvalue`
/// ±1,000,000,000,000 (`opportunity.md`), lead `estimatedamount` 0 to 1,000,000,000,000
/// (`lead.md`).
fn documented_money() -> BTreeMap<String, (Decimal, Decimal)> {
    let trillion = Decimal::from(1_000_000_000_000_i64);
    BTreeMap::from([
        (
            "opportunity.estimatedvalue".to_owned(),
            (-trillion, trillion),
        ),
        ("lead.estimatedamount".to_owned(), (Decimal::ZERO, trillion)),
    ])
}

/// The limits in force: lengths by `table.column`, money ranges by `table.column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    lengths: BTreeMap<String, usize>,
    money: BTreeMap<String, (Decimal, Decimal)>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::documented()
    }
}

impl Limits {
    /// Microsoft's published limits.
    pub fn documented() -> Self {
        Self {
            lengths: DOCUMENTED_LENGTHS
                .iter()
                .map(|(column, max)| ((*column).to_owned(), *max))
                .collect(),
            money: documented_money(),
        }
    }

    /// These limits with the lengths metadata read (`table.column` → `MaxLength`) laid over.
    pub fn with_lengths(mut self, lengths: &BTreeMap<String, usize>) -> Self {
        self.lengths
            .extend(lengths.iter().map(|(c, n)| (c.clone(), *n)));
        self
    }

    /// The maximum length of `table.column`, if known.
    pub fn length(&self, table: &str, column: &str) -> Option<usize> {
        self.lengths.get(&format!("{table}.{column}")).copied()
    }

    /// The range a money column accepts: its own when known, else the Money type's.
    pub fn money(&self, table: &str, column: &str) -> (Decimal, Decimal) {
        self.money
            .get(&format!("{table}.{column}"))
            .copied()
            .unwrap_or((-MONEY_SUPPORTED, MONEY_SUPPORTED))
    }
}

/// Text cut to fit a column, for the Audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// `table.column`.
    pub column: String,
    /// Characters the referral had.
    pub from: usize,
    /// The column's maximum, which the cut value fills.
    pub to: usize,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cut from {} to {} characters (Dataverse's limit)",
            self.column, self.from, self.to
        )
    }
}

/// `value` cut to `max` characters, its last one "…"; as it is when it fits.
pub fn cut(value: &str, max: usize) -> Option<String> {
    let count = value.chars().count();
    if count <= max || max == 0 {
        return None;
    }
    let kept: String = value.chars().take(max - 1).collect();
    Some(format!("{}…", kept.trim_end()))
}

/// Fits `value` to `table.column`, noting a cut in `cuts`.
pub fn fit(
    value: &mut Option<String>,
    limits: &Limits,
    table: &str,
    column: &str,
    cuts: &mut Vec<Cut>,
) {
    if let Some(text) = value {
        fit_leaving(text, 0, limits, table, column, cuts);
    }
}

/// Fits `text` to `table.column` less `reserve` characters, kept for what is added after it
/// (the name's ✔), noting a cut in `cuts`.
pub fn fit_leaving(
    text: &mut String,
    reserve: usize,
    limits: &Limits,
    table: &str,
    column: &str,
    cuts: &mut Vec<Cut>,
) {
    let Some(max) = limits.length(table, column) else {
        return;
    };
    if let Some(shorter) = cut(text, max.saturating_sub(reserve)) {
        cuts.push(Cut {
            column: format!("{table}.{column}"),
            from: text.chars().count(),
            to: max,
        });
        *text = shorter;
    }
}

/// Whether `email` has the shape of an address: one `@`, something before it, a dotted domain
/// after it, no spaces. Dataverse does not check (its formats "do not validate context,
/// domains, or any other values": `data-type-format-conversions.md`), but a contact is matched
/// by it, and an address that cannot be one matches no one.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
        && domain.contains('.')
        && domain.split('.').all(|part| !part.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_to_its_column_with_an_ellipsis() {
        assert_eq!(cut("short", 300), None);
        let long = "x".repeat(5_002);
        let cut_name = cut(&long, 300).unwrap();
        assert_eq!(cut_name.chars().count(), 300);
        assert!(cut_name.ends_with('…'));
        // Characters, not bytes: a multi-byte name is cut on a character boundary.
        let umlauts = "ü".repeat(400);
        assert_eq!(cut(&umlauts, 300).unwrap().chars().count(), 300);
    }

    #[test]
    fn fitting_notes_the_cut() {
        let limits = Limits::documented();
        let mut cuts = Vec::new();
        let mut notes = Some("n".repeat(10_000));
        fit(&mut notes, &limits, "opportunity", "description", &mut cuts);
        assert_eq!(notes.unwrap().chars().count(), 2000);
        assert_eq!(
            cuts[0].to_string(),
            "opportunity.description cut from 10000 to 2000 characters (Dataverse's limit)"
        );
        let mut fits = Some("fine".to_owned());
        fit(&mut fits, &limits, "account", "name", &mut cuts);
        assert_eq!(cuts.len(), 1);
    }

    #[test]
    fn metadata_overrides_the_documented_limits() {
        let read = BTreeMap::from([("opportunity.name".to_owned(), 120)]);
        let limits = Limits::documented().with_lengths(&read);
        assert_eq!(limits.length("opportunity", "name"), Some(120));
        assert_eq!(limits.length("account", "name"), Some(160));
        assert_eq!(
            limits.money("opportunity", "new_custom"),
            (-MONEY_SUPPORTED, MONEY_SUPPORTED)
        );
        assert_eq!(MONEY_SUPPORTED, Decimal::from(922_337_203_685_477_i64));
    }

    #[test]
    fn emails_have_the_shape_of_an_address() {
        for good in ["dana@fabrikam.example", "a.b+c@mail.contoso.com"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "dana at fabrikam",
            "dana@",
            "@fabrikam.com",
            "dana@fabrikam",
            "a@b@c.com",
            "dana @fabrikam.com",
            "dana@fabrikam..com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
