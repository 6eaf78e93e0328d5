//! The EMBER 1.0.0 schema table: names, child order, documented or inferred.
//!
//! Every fact here comes from `shared/spec/EMBER.md` (Amazon's public pages
//! S1–S13, as far as they were available). An entry is
//! [`Evidence::Documented`] when an Amazon page states it or an Amazon
//! example shows it, and [`Evidence::Inferred`] when it is our reading; each
//! inferred entry names an [`Inferred`] switch, so a provider whose staging
//! reports refuse it can turn it off (`--omit-inferred`,
//! `EMBER_OMIT_INFERRED`). Under `xs:sequence` one wrong guessed element
//! makes Amazon refuse a file; that is why every guess is switchable.
//!
//! The writer writes program children in [`PROGRAM_CHILDREN`] order and
//! offer children in [`OFFER_CHILDREN`] order; the reader checks order
//! against the same tables and accepts the content of anything whose inside
//! the docs leave open.

/// Where a fact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Stated on an Amazon page or shown in an Amazon example.
    Documented(&'static str),
    /// Our reading; `evidence` says what it rests on, `switch` turns it off.
    Inferred {
        /// What the guess rests on (EMBER.md section, Amazon page, CDF mapping).
        evidence: &'static str,
        /// The configuration switch that stops sending it.
        switch: Inferred,
    },
}

/// The inferred parts the writer may send, each switchable by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Inferred {
    /// `Relationships` on seasons and episodes (the TV hierarchy). On by default.
    Relationships,
    /// `Genres/Genre` with the genre as text.
    Genres,
    /// `Keywords/Keyword` with the keyword as text.
    Keywords,
    /// `Ratings/Rating@system` with the rating as text.
    Ratings,
    /// `Studios/Studio` with the studio's name as text.
    Studios,
    /// `Credits/Credit@role` with the name as text.
    Credits,
    /// `RunLengths/RunLength` with an ISO 8601 duration (`PT117M`).
    RunLengths,
    /// `ReleaseDates` at its inferred position in the sequence.
    ReleaseDates,
    /// `GeoRestrictions/Region@filter@territories` inside a `ProgramOffer`.
    GeoRestrictions,
    /// `LaunchTargets/LaunchTarget` (the deep link) inside a `ProgramOffer`.
    LaunchTargets,
    /// `ProgramOffer@startTime@endTime`, the availability window.
    OfferWindow,
}

impl Inferred {
    /// Every switch, in the order the README lists them.
    pub const ALL: [Inferred; 11] = [
        Inferred::Relationships,
        Inferred::Genres,
        Inferred::Keywords,
        Inferred::Ratings,
        Inferred::Studios,
        Inferred::Credits,
        Inferred::RunLengths,
        Inferred::ReleaseDates,
        Inferred::GeoRestrictions,
        Inferred::LaunchTargets,
        Inferred::OfferWindow,
    ];

    /// The name used on the command line and in `EMBER_OMIT_INFERRED`.
    pub fn name(self) -> &'static str {
        match self {
            Inferred::Relationships => "Relationships",
            Inferred::Genres => "Genres",
            Inferred::Keywords => "Keywords",
            Inferred::Ratings => "Ratings",
            Inferred::Studios => "Studios",
            Inferred::Credits => "Credits",
            Inferred::RunLengths => "RunLengths",
            Inferred::ReleaseDates => "ReleaseDates",
            Inferred::GeoRestrictions => "GeoRestrictions",
            Inferred::LaunchTargets => "LaunchTargets",
            Inferred::OfferWindow => "OfferWindow",
        }
    }

    /// The switch for a name, ignoring ASCII case.
    pub fn parse(name: &str) -> Option<Inferred> {
        Inferred::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The schema entry the switch belongs to.
    pub fn evidence(self) -> &'static str {
        let found = PROGRAM_CHILDREN
            .iter()
            .chain(OFFER_CHILDREN)
            .find_map(|child| match child.evidence {
                Evidence::Inferred { evidence, switch } if switch == self => Some(evidence),
                _ => None,
            });
        found.unwrap_or(OFFER_WINDOW_EVIDENCE)
    }
}

/// One child in a sequence: its wrapper name, its item name, its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    /// The wrapper element (`Titles`).
    pub wrapper: &'static str,
    /// The element inside the wrapper (`Title`); `None` when unknown.
    pub item: Option<&'static str>,
    /// Whether a program must have it.
    pub required: bool,
    /// Documented or inferred, and why.
    pub evidence: Evidence,
}

const fn documented(
    wrapper: &'static str,
    item: Option<&'static str>,
    source: &'static str,
) -> Child {
    Child {
        wrapper,
        item,
        required: false,
        evidence: Evidence::Documented(source),
    }
}

const fn inferred(
    wrapper: &'static str,
    item: Option<&'static str>,
    evidence: &'static str,
    switch: Inferred,
) -> Child {
    Child {
        wrapper,
        item,
        required: false,
        evidence: Evidence::Inferred { evidence, switch },
    }
}

/// The root element [doc S1].
pub const ROOT: &str = "DataCollections";
/// The only schema version this code writes [doc S1, S11].
pub const SCHEMA_VERSION: &str = "1.0.0";
/// The program catalog element [doc S1, S2].
pub const PROGRAM_CATALOG: &str = "ProgramCatalog";
/// The offer catalog element [doc S1, S3].
pub const OFFER_CATALOG: &str = "OfferCatalog";
/// The management verb that removes an entity [doc S2, S3].
pub const DELETE: &str = "Delete";
/// Offers for one program (and one tier) [doc S3, S6].
pub const PROGRAM_OFFERS: &str = "ProgramOffers";
/// One offer inside `ProgramOffers` [doc S3].
pub const PROGRAM_OFFER: &str = "ProgramOffer";
/// The default program catalog id, meant when `programCatalogRef` is absent [doc S3].
pub const DEFAULT_PROGRAM_CATALOG: &str = "DEFAULT_PROGRAM_CATALOG";

/// Catalogs that may sit under the root [doc S5]; the reader accepts the
/// ones outside the VOD subset and leaves their content open.
pub const ROOT_CHILDREN: [&str; 7] = [
    "Delete",
    "ProgramCatalog",
    "ScheduleCatalog",
    "OfferCatalog",
    "StationCatalog",
    "LineupCatalog",
    "PolicyCatalog",
];

/// Program types outside the VOD subset: accepted, content open [doc S2].
pub const OTHER_PROGRAM_TYPES: [&str; 6] = [
    "SportsEvent",
    "Event",
    "OffAir",
    "Other",
    "ToBeAnnounced",
    "Extra",
];

/// Offer catalog entries outside the VOD subset: accepted, content open [doc S3].
pub const OTHER_OFFER_ENTRIES: [&str; 3] =
    ["ProgramAiringOffers", "StationOffers", "ProgramDiscovery"];

/// The child sequence of `Movie`, and (inferred, EMBER.md §4.3) of
/// `TVSeries`, `TVSeason` and `TVEpisode`, in `xs:sequence` order [doc S1].
pub const PROGRAM_CHILDREN: &[Child] = &[
    documented(
        "ExternalIds",
        Some("ExternalId"),
        "EMBER.md §4.2 #1 [doc S2, S5]; <ExternalId scheme=\"imdb\"> with the id as text [doc S7; ex S6, S8] (EMBER.md §5)",
    ),
    Child {
        wrapper: "Titles",
        item: Some("Title"),
        required: true,
        evidence: Evidence::Documented(
            "EMBER.md §4.2 #2, the only required child [doc S2, S5]; <Title language default territories> [doc S7; ex S6, S8] (EMBER.md §5). Inferred, not switchable: the default title is written first and has no territories",
        ),
    },
    documented(
        "Descriptions",
        Some("Description"),
        "EMBER.md §4.2 #3 [doc S2, S5]; <Description language default> [ex S6, S8]. Inferred, not switchable: the default one is in the default title's language; territories (themselves inferred on Description, EMBER.md §5) are never written",
    ),
    documented(
        "Synopses",
        Some("Synopsis"),
        "EMBER.md §4.2 #4 [doc S2, S5; ex S6]; <Synopsis language default> [ex S6]. Inferred, not switchable: the default one is in the default title's language",
    ),
    documented(
        "Images",
        Some("Image"),
        "EMBER.md §4.2 #5 [doc S2, S5; ex S6]; <Image category aspectRatio mimeType resolution> with the URL as text [ex S6] (EMBER.md §5)",
    ),
    inferred(
        "Genres",
        Some("Genre"),
        "position [doc S5]; the genre as the text of <Genre> is inferred (EMBER.md §5: content NOT FOUND)",
        Inferred::Genres,
    ),
    inferred(
        "Keywords",
        Some("Keyword"),
        "wrapper, item name and position [doc S5] (EMBER.md §4.2 #7); the keyword as the text of <Keyword> is inferred like Genre's (EMBER.md §5: content NOT FOUND)",
        Inferred::Keywords,
    ),
    inferred(
        "Ratings",
        Some("Rating"),
        "position [doc S5]; <Rating system=\"MPAA\">PG-13</Rating> is inferred from CDF's Rating (EMBER.md §5, S7)",
        Inferred::Ratings,
    ),
    inferred(
        "Studios",
        Some("Studio"),
        "wrapper and position [doc S5] (EMBER.md §4.2 #9); the item name NOT FOUND: <Studio> with the name as text follows the plural-wrapper/singular-item pattern of every documented list (ExternalIds/ExternalId, Titles/Title, Genres/Genre, Keywords/Keyword, ReleaseDates/ReleaseDate; EMBER.md §5)",
        Inferred::Studios,
    ),
    inferred(
        "Credits",
        Some("Credit"),
        "named [doc S1]; position from S1's key-element order; <Credit role> with the name as text from CDF's Credits (EMBER.md §4.2 #10, S7)",
        Inferred::Credits,
    ),
    documented(
        "Tags",
        Some("Tag"),
        "EMBER.md §4.2 #11 [guess; Tags/Tag doc S13]",
    ),
    inferred(
        "RunLengths",
        Some("RunLength"),
        "named [doc S1]; position from S1's order; an ISO 8601 duration as text is inferred (EMBER.md §4.2 #12, §8: durations NOT FOUND)",
        Inferred::RunLengths,
    ),
    documented("PictureColor", None, "EMBER.md §4.2 #13 [guess]"),
    inferred(
        "ReleaseDates",
        Some("ReleaseDate"),
        "ReleaseDate text (YYYY-MM-DD) and @releaseType [ex S8] (EMBER.md §5); its position after RunLengths from S1's order (EMBER.md §4.2 #14)",
        Inferred::ReleaseDates,
    ),
    inferred(
        "Relationships",
        Some("Relationship"),
        "an episode must relate to a season and a series [doc S2]; <Relationship type programRef sequence> reuses ProgramOffers@programRef's naming [doc S3] and CDF's SeasonInShow/EpisodeInSeason (EMBER.md §4.4: structure NOT FOUND)",
        Inferred::Relationships,
    ),
];

/// The children of a `ProgramOffer`, in the order of S1's OfferCatalog
/// key-element list (EMBER.md §6.2; the real order is NOT FOUND).
pub const OFFER_CHILDREN: &[Child] = &[
    documented("Entitlements", Some("Entitlement"), "EMBER.md §6.2 [ex S8]"),
    documented("AudioLanguages", None, "EMBER.md §6.2 [doc S1]"),
    documented("SubtitleLanguages", None, "EMBER.md §6.2 [doc S1]"),
    documented("VideoResolutions", None, "EMBER.md §6.2 [doc S1]"),
    inferred(
        "GeoRestrictions",
        Some("Region"),
        "named [doc S1]; <Region filter=\"allow_all\" territories> borrows PolicyCatalog's Region [doc S4] (EMBER.md §6.2, §7)",
        Inferred::GeoRestrictions,
    ),
    inferred(
        "LaunchTargets",
        Some("LaunchTarget"),
        "a LaunchTarget gives the deep link [doc S1, S6]; the link as its text is inferred (EMBER.md §6.2)",
        Inferred::LaunchTargets,
    ),
];

/// Evidence for the availability window, which has no element of its own.
pub const OFFER_WINDOW_EVIDENCE: &str = "windows NOT FOUND (EMBER.md §6.2); sent as ProgramOffer@startTime/@endTime, attributes the reconstructed schema leaves open";

/// The position of a program child in the sequence, by wrapper name.
pub fn program_child(name: &str) -> Option<(usize, &'static Child)> {
    PROGRAM_CHILDREN
        .iter()
        .enumerate()
        .find(|(_, c)| c.wrapper == name)
}

/// The position of a `ProgramOffer` child, by wrapper name.
pub fn offer_child(name: &str) -> Option<(usize, &'static Child)> {
    OFFER_CHILDREN
        .iter()
        .enumerate()
        .find(|(_, c)| c.wrapper == name)
}

/// The `Relationship@type` naming a season's or an episode's series.
pub const RELATION_SERIES: &str = "series";
/// The `Relationship@type` naming an episode's season.
pub const RELATION_SEASON: &str = "season";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_movie_order_is_the_one_amazon_shows() {
        // [ex S6]: ExternalIds, Titles, Descriptions, Synopses, Images.
        let names: Vec<_> = PROGRAM_CHILDREN.iter().map(|c| c.wrapper).collect();
        assert_eq!(
            &names[..5],
            [
                "ExternalIds",
                "Titles",
                "Descriptions",
                "Synopses",
                "Images"
            ]
        );
        // [ex S8]: ReleaseDates after Descriptions.
        assert!(
            program_child("ReleaseDates").unwrap().0 > program_child("Descriptions").unwrap().0
        );
        assert!(program_child("Titles").unwrap().1.required);
    }

    #[test]
    fn every_switch_names_its_evidence_and_parses_back() {
        for switch in Inferred::ALL {
            assert_eq!(Inferred::parse(&switch.name().to_lowercase()), Some(switch));
            assert!(!switch.evidence().is_empty());
        }
        assert_eq!(Inferred::parse("Titles"), None);
    }
}
