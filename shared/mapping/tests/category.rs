//! The category rule table of contract `partner-center.md` §4, row by row.

use cosell_mapping::referral::{Referral, ReferralPage};
use cosell_mapping::{Category, Qualification, ReferralType};

const OWN_ORG: &str = "0e1d2c3b-4a59-4687-a5b4-c3d2e1f00f1e";
const OTHER_PARTNER: &str = "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4";

fn classify(
    kind: ReferralType,
    qualification: Qualification,
    invited_by: Option<&str>,
) -> Category {
    Category::classify(Some(&kind), Some(&qualification), invited_by)
}

#[test]
fn row_1_independent_direct_from_microsoft_or_nobody_is_a_marketplace_lead() {
    use {Qualification::Direct, ReferralType::Independent};
    assert_eq!(
        classify(Independent, Direct, Some("msft")),
        Category::MarketplaceLead
    );
    assert_eq!(
        classify(Independent, Direct, Some("MSFT")),
        Category::MarketplaceLead
    );
    assert_eq!(
        classify(Independent, Direct, None),
        Category::MarketplaceLead
    );
}

#[test]
fn row_2_independent_qualified_from_microsoft_is_a_qualified_lead() {
    use ReferralType::Independent;
    for qualification in [
        Qualification::SalesQualified,
        Qualification::MarketingQualified,
    ] {
        assert_eq!(
            classify(Independent, qualification, Some("msft")),
            Category::QualifiedLead
        );
    }
}

#[test]
fn row_3_from_a_partner_is_a_cosell_opportunity() {
    for kind in [ReferralType::Independent, ReferralType::Shared] {
        for qualification in [Qualification::SalesQualified, Qualification::None] {
            for partner in [OWN_ORG, OTHER_PARTNER] {
                assert_eq!(
                    classify(kind.clone(), qualification.clone(), Some(partner)),
                    Category::CoSellOpportunity,
                    "{kind} {qualification} {partner}"
                );
            }
        }
    }
}

#[test]
fn a_referral_that_fits_no_row_is_a_cosell_opportunity() {
    use Qualification::{Direct, MarketingQualified, SalesQualified};
    use ReferralType::{Independent, Shared};
    let unmatched = [
        classify(Shared, Direct, Some("msft")),
        classify(Shared, SalesQualified, Some("msft")),
        classify(Shared, MarketingQualified, Some("msft")),
        classify(Independent, Direct, Some(OTHER_PARTNER)),
        classify(Independent, MarketingQualified, None),
        classify(Independent, MarketingQualified, Some(OTHER_PARTNER)),
        classify(
            ReferralType::Other("Partnered".into()),
            Direct,
            Some("msft"),
        ),
        Category::classify(None, None, None),
    ];
    assert!(
        unmatched
            .iter()
            .all(|category| *category == Category::CoSellOpportunity),
        "{unmatched:?}"
    );
}

#[test]
fn only_the_two_lead_categories_are_leads() {
    assert!(Category::MarketplaceLead.is_lead());
    assert!(Category::QualifiedLead.is_lead());
    assert!(!Category::CoSellOpportunity.is_lead());
}

#[test]
fn fixtures_classify_as_expected() {
    let lead: Referral =
        serde_json::from_str(include_str!("fixtures/marketplace_lead.json")).unwrap();
    assert_eq!(Category::of(&lead), Category::MarketplaceLead);

    let cosell: Referral =
        serde_json::from_str(include_str!("fixtures/cosell_referral_full.json")).unwrap();
    assert_eq!(Category::of(&cosell), Category::CoSellOpportunity);

    let page: ReferralPage =
        serde_json::from_str(include_str!("fixtures/referral_list_page.json")).unwrap();
    // Shared / None / msft fits no row: an opportunity.
    assert_eq!(Category::of(&page.value[0]), Category::CoSellOpportunity);
}
