//! The EMBER catalog model: what a `<ProgramCatalog>` holds (EMBER.md §4–§6).
//!
//! An [`Entry`] is either an [`Item`] to add or update, or a [`Delete`]. An
//! item's [`ItemKind`] carries what only that kind has (a season's series, an
//! episode's season), so a season without a series cannot be built. The
//! metadata every kind shares lives in [`Metadata`]. Text is kept exactly as
//! given; dates are kept as the validated strings they were read from, so a
//! write → read round trip gives back equal values.

use std::fmt;

use serde::Serialize;

/// The `<ProgramCatalog>` root: catalog id, catalog version and action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogHeader {
    /// The provider's catalog id (`id` attribute).
    pub id: String,
    /// The catalog's own version (`version` attribute), a positive integer.
    pub version: u64,
    /// `upsert` (the default when omitted) or `replace`.
    pub action: Action,
}

/// The root's `action` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Add or update the items listed; the default.
    #[default]
    Upsert,
    /// Replace the items listed.
    Replace,
}

impl Action {
    /// The attribute value as written in XML.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upsert => "upsert",
            Action::Replace => "replace",
        }
    }

    /// Parses the attribute value; `None` for anything else.
    pub fn parse(value: &str) -> Option<Action> {
        match value {
            "upsert" => Some(Action::Upsert),
            "replace" => Some(Action::Replace),
            _ => None,
        }
    }
}

/// How a submission is declared in its manifest (DOMAIN.md A1, A4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmissionType {
    /// `CATALOG_FULL`: every live item; Amazon deletes whatever is absent.
    Full,
    /// `CATALOG_UPDATE`: new, changed and deleted items only.
    Update,
}

impl SubmissionType {
    /// The manifest's `type` value.
    pub fn manifest_type(self) -> &'static str {
        match self {
            SubmissionType::Full => "CATALOG_FULL",
            SubmissionType::Update => "CATALOG_UPDATE",
        }
    }

    /// The word used in file names and on the command line: `full` or `update`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionType::Full => "full",
            SubmissionType::Update => "update",
        }
    }
}

impl fmt::Display for SubmissionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One child of `<ProgramCatalog>`.
// Entries stream through one at a time; boxing the item would cost an
// allocation per item to save a few hundred bytes of stack.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An item to add or update.
    Item(Item),
    /// An item to remove.
    Delete(Delete),
}

impl Entry {
    /// The entry's item id.
    pub fn id(&self) -> &str {
        match self {
            Entry::Item(item) => &item.id,
            Entry::Delete(delete) => &delete.id,
        }
    }

    /// The entry's version.
    pub fn version(&self) -> u64 {
        match self {
            Entry::Item(item) => item.version,
            Entry::Delete(delete) => delete.version,
        }
    }
}

/// `<Delete id version/>`: removes one item. Its version is the item's newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// The id of the item removed.
    pub id: String,
    /// Greater than the last version sent for that id.
    pub version: u64,
}

/// A movie, series, season or episode with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The provider's id, unique within the catalog.
    pub id: String,
    /// A positive integer that only goes up for this id.
    pub version: u64,
    /// What the item is, with what only that kind carries.
    pub kind: ItemKind,
    /// What every kind carries.
    pub meta: Metadata,
}

impl Item {
    /// Takes every string out of the item and hands it to `give` (which
    /// keeps its buffer for later text), and empties every list, keeping
    /// its allocation. The source loader and the catalog reader both reuse
    /// the strings of items they are done with through it.
    pub(crate) fn drain_strings(&mut self, give: &mut impl FnMut(String)) {
        give(std::mem::take(&mut self.id));
        match &mut self.kind {
            ItemKind::Movie | ItemKind::Series => {}
            ItemKind::Season { series_id, .. } => give(std::mem::take(series_id)),
            ItemKind::Episode {
                series_id,
                season_id,
                ..
            } => {
                give(std::mem::take(series_id));
                give(std::mem::take(season_id));
            }
        }
        let meta = &mut self.meta;
        for e in meta.external_ids.drain(..) {
            give(e.scheme);
            give(e.id);
        }
        give(std::mem::take(&mut meta.title.locale));
        give(std::mem::take(&mut meta.title.text));
        for t in meta.other_titles.drain(..) {
            give(t.locale);
            give(t.text);
            give(t.territories);
        }
        let texts = meta.other_descriptions.drain(..);
        for t in texts.chain(meta.other_synopses.drain(..)) {
            give(t.locale);
            give(t.text);
        }
        for d in meta.release_dates.drain(..) {
            give(d.date);
            d.release_type.into_iter().for_each(&mut *give);
        }
        let names = meta.genres.drain(..).chain(meta.keywords.drain(..));
        names.chain(meta.studios.drain(..)).for_each(&mut *give);
        if let Some(rating) = meta.rating.take() {
            give(rating.system);
            give(rating.value);
        }
        for credit in meta.credits.drain(..) {
            give(credit.role);
            give(credit.name);
        }
        for image in meta.images.drain(..) {
            give(image.kind);
            give(image.url);
            [image.aspect_ratio, image.mime_type, image.resolution]
                .into_iter()
                .flatten()
                .for_each(&mut *give);
        }
        drain_offer_strings(&mut meta.offers, give);
        [
            meta.description.take(),
            meta.synopsis.take(),
            meta.deep_link.take(),
        ]
        .into_iter()
        .flatten()
        .for_each(give);
    }
}

/// [`Item::drain_strings`] for a list of offers.
pub(crate) fn drain_offer_strings(offers: &mut Vec<Offer>, give: &mut impl FnMut(String)) {
    for offer in offers.drain(..) {
        give(offer.region);
        [offer.start, offer.end]
            .into_iter()
            .flatten()
            .for_each(&mut *give);
        if let Some(price) = offer.price {
            give(price.amount);
            give(price.currency);
        }
    }
}

/// What an item is. Seasons name their series; episodes their season and series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// `<Movie>`.
    Movie,
    /// `<TVSeries>`.
    Series,
    /// `<TVSeason>`.
    Season {
        /// The series this season belongs to (`Relationship type="series"`).
        series_id: String,
        /// The season's number in its series (that relationship's `sequence`).
        season_number: u32,
    },
    /// `<TVEpisode>`.
    Episode {
        /// The series the episode belongs to (`Relationship type="series"`).
        series_id: String,
        /// The season the episode belongs to (`Relationship type="season"`).
        season_id: String,
        /// The episode's number in its season (that relationship's `sequence`).
        episode_number: u32,
    },
}

impl ItemKind {
    /// The kind without its payload.
    pub fn tag(&self) -> KindTag {
        match self {
            ItemKind::Movie => KindTag::Movie,
            ItemKind::Series => KindTag::Series,
            ItemKind::Season { .. } => KindTag::Season,
            ItemKind::Episode { .. } => KindTag::Episode,
        }
    }

    /// The id of the direct parent: a season's series, an episode's season.
    pub fn parent_id(&self) -> Option<&str> {
        match self {
            ItemKind::Movie | ItemKind::Series => None,
            ItemKind::Season { series_id, .. } => Some(series_id),
            ItemKind::Episode { season_id, .. } => Some(season_id),
        }
    }
}

/// An item kind without its payload: for counts, state and delete order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KindTag {
    /// A movie.
    Movie,
    /// A TV series.
    Series,
    /// A TV season.
    Season,
    /// A TV episode.
    Episode,
}

impl KindTag {
    /// Every kind, in the order parents come before children.
    pub const ALL: [KindTag; 4] = [
        KindTag::Movie,
        KindTag::Series,
        KindTag::Season,
        KindTag::Episode,
    ];

    /// The XML element name.
    pub fn element(self) -> &'static str {
        match self {
            KindTag::Movie => "Movie",
            KindTag::Series => "TVSeries",
            KindTag::Season => "TVSeason",
            KindTag::Episode => "TVEpisode",
        }
    }

    /// The kind for an XML element name.
    pub fn from_element(name: &str) -> Option<KindTag> {
        match name {
            "Movie" => Some(KindTag::Movie),
            "TVSeries" => Some(KindTag::Series),
            "TVSeason" => Some(KindTag::Season),
            "TVEpisode" => Some(KindTag::Episode),
            _ => None,
        }
    }

    /// The source format's `type` value (`movie`, `series`, `season`, `episode`).
    pub fn source_name(self) -> &'static str {
        match self {
            KindTag::Movie => "movie",
            KindTag::Series => "series",
            KindTag::Season => "season",
            KindTag::Episode => "episode",
        }
    }

    /// The rank in which deletes are written: children (0) before parents.
    /// Movies have no hierarchy and go with the series.
    pub fn delete_rank(self) -> usize {
        match self {
            KindTag::Episode => 0,
            KindTag::Season => 1,
            KindTag::Series | KindTag::Movie => 2,
        }
    }
}

impl fmt::Display for KindTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source_name())
    }
}

/// Metadata every kind carries. Only the title is required.
///
/// Where each field lands in EMBER is the schema table's business
/// ([`crate::ember::schema`]); offers and the deep link go to the
/// `OfferCatalog`, not inside the program. Every list is written in the
/// order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// `<ExternalIds><ExternalId scheme="…">`: the item's ids in other
    /// systems (IMDb above all: Amazon asks for it).
    pub external_ids: Vec<ExternalId>,
    /// The default title: `<Titles><Title language="…" default="true">`,
    /// written first. It applies everywhere, so it has no territories.
    pub title: LocalizedText,
    /// Further titles, in other languages or for some territories only:
    /// `<Title language="…" territories="…">` after the default one.
    pub other_titles: Vec<Title>,
    /// The default short description: `<Descriptions><Description
    /// language="<title's>" default="true">`.
    pub description: Option<String>,
    /// Further short descriptions, in other languages: `<Description language="…">`.
    pub other_descriptions: Vec<LocalizedText>,
    /// The default long synopsis: `<Synopses><Synopsis language="<title's>" default="true">`.
    pub synopsis: Option<String>,
    /// Further synopses, in other languages: `<Synopsis language="…">`.
    pub other_synopses: Vec<LocalizedText>,
    /// `<ReleaseDates><ReleaseDate releaseType="…">YYYY-MM-DD` (position inferred).
    pub release_dates: Vec<ReleaseDate>,
    /// `<RunLengths><RunLength>PT…M` (inferred).
    pub runtime_minutes: Option<u32>,
    /// `<Genres><Genre>…` (content inferred).
    pub genres: Vec<String>,
    /// `<Keywords><Keyword>…` (content inferred).
    pub keywords: Vec<String>,
    /// `<Ratings><Rating system="…">value` (inferred).
    pub rating: Option<Rating>,
    /// `<Studios><Studio>…` (the item's name inferred).
    pub studios: Vec<String>,
    /// `<Credits><Credit role="…">name` (inferred).
    pub credits: Vec<Credit>,
    /// `<Images><Image category="…" aspectRatio mimeType resolution>url`.
    pub images: Vec<Image>,
    /// One `<ProgramOffers>` per tier (entitlement type) in the `OfferCatalog`.
    pub offers: Vec<Offer>,
    /// `<LaunchTargets><LaunchTarget>` in each of the item's offers (inferred):
    /// the URI that opens the title in the provider's app.
    pub deep_link: Option<String>,
}

/// Text with the locale it is written in, e.g. `en-US`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalizedText {
    /// A BCP-47 language tag.
    pub locale: String,
    /// The text itself.
    pub text: String,
}

/// A title other than the default one: a language, and where it applies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Title {
    /// A BCP-47 language tag.
    pub locale: String,
    /// The title itself.
    pub text: String,
    /// EMBER's `TerritoriesType`: comma-separated region codes (`US,CA`)
    /// or `GLOBAL`; empty when the title is not limited to territories.
    pub territories: String,
}

/// An id of the item in another system: `<ExternalId scheme="imdb">tt0113277`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalId {
    /// The system, e.g. `imdb` [doc S7, ex S6].
    pub scheme: String,
    /// The id in that system.
    pub id: String,
}

impl ExternalId {
    /// The scheme Amazon asks for [doc S6].
    pub const IMDB: &'static str = "imdb";

    /// Whether this is an IMDb id (the scheme compared without case).
    pub fn is_imdb(&self) -> bool {
        self.scheme.eq_ignore_ascii_case(ExternalId::IMDB)
    }
}

/// A release date and its type: `<ReleaseDate releaseType="streaming">2024-02-29`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReleaseDate {
    /// An ISO-8601 calendar date, `YYYY-MM-DD`, kept as given.
    pub date: String,
    /// `releaseType`, e.g. `streaming` [ex S8], `theatrical`; none when not given.
    pub release_type: Option<String>,
}

/// A content rating such as MPAA `PG-13`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// The rating system, e.g. `MPAA`, `FSK`.
    pub system: String,
    /// The rating within that system.
    pub value: String,
}

/// A person and what they did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// e.g. `actor`, `director`.
    pub role: String,
    /// The person's name.
    pub name: String,
}

/// An artwork reference and what it is [ex S6].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Image {
    /// `category`: e.g. `cover`, `background`, `poster`, `hero`.
    pub kind: String,
    /// An absolute http(s) URL.
    pub url: String,
    /// `aspectRatio`, e.g. `16:9`.
    pub aspect_ratio: Option<String>,
    /// `mimeType`, e.g. `image/jpeg`.
    pub mime_type: Option<String>,
    /// `resolution`, e.g. `4K`, `1920x1080`.
    pub resolution: Option<String>,
}

/// How and where an item can be watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Subscription, free, purchase or rental.
    pub kind: OfferKind,
    /// Where the offer applies: an ISO 3166-1 alpha-2 region code.
    pub region: String,
    /// When the window opens (RFC 3339), if bounded.
    pub start: Option<String>,
    /// When the window closes (RFC 3339), if bounded.
    pub end: Option<String>,
    /// Purchase and rental offers carry a price; the others must not.
    pub price: Option<Price>,
}

/// The offer types DOMAIN.md A2 allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferKind {
    /// Included in a subscription.
    Subscription,
    /// Free to watch.
    Free,
    /// Bought to keep.
    Purchase,
    /// Rented for a while.
    Rental,
}

impl OfferKind {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::Subscription => "subscription",
            OfferKind::Free => "free",
            OfferKind::Purchase => "purchase",
            OfferKind::Rental => "rental",
        }
    }

    /// Parses the attribute value.
    pub fn parse(value: &str) -> Option<OfferKind> {
        match value {
            "subscription" => Some(OfferKind::Subscription),
            "free" => Some(OfferKind::Free),
            "purchase" => Some(OfferKind::Purchase),
            "rental" => Some(OfferKind::Rental),
            _ => None,
        }
    }

    /// Every tier, in the order the writer writes them.
    pub const ALL: [OfferKind; 4] = [
        OfferKind::Subscription,
        OfferKind::Free,
        OfferKind::Purchase,
        OfferKind::Rental,
    ];

    /// Whether offers of this kind must carry a price.
    pub fn is_paid(self) -> bool {
        matches!(self, OfferKind::Purchase | OfferKind::Rental)
    }
}

/// The tiers an item has offers in, one bit per [`OfferKind`] (`1 << kind as u8`).
pub fn offer_tiers(meta: &Metadata) -> u8 {
    meta.offers
        .iter()
        .fold(0, |tiers, offer| tiers | 1 << offer.kind as u8)
}

/// The id of the `<ProgramOffers>` holding `program_id`'s offers of one
/// tier: `<program id>.offers.<tier>`, e.g. `movie-1.offers.free`.
///
/// Deterministic, so an update and a delete name the same offers; unique,
/// because the tier (a word without dots) is the last dot-separated part
/// and the rest is the program id.
pub fn program_offers_id(program_id: &str, tier: OfferKind) -> String {
    program_offers_id_parts(program_id, tier).concat()
}

/// [`program_offers_id`] in its three parts, for a writer that puts them
/// straight into its buffer: the program id, then two plain ASCII words.
pub fn program_offers_id_parts(program_id: &str, tier: OfferKind) -> [&str; 3] {
    [program_id, ".offers.", tier.as_str()]
}

/// An amount in a currency, kept as the decimal string given (`3.99`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// A non-negative decimal with at most two fraction digits.
    pub amount: String,
    /// An ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

/// Counts per kind as reports show them: `{"movie": 3, "series": 1, …}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KindCounts {
    /// Movies.
    pub movie: u64,
    /// Series.
    pub series: u64,
    /// Seasons.
    pub season: u64,
    /// Episodes.
    pub episode: u64,
}

impl From<[u64; 4]> for KindCounts {
    /// From counts indexed like [`KindTag::ALL`].
    fn from(counts: [u64; 4]) -> KindCounts {
        KindCounts {
            movie: counts[KindTag::Movie as usize],
            series: counts[KindTag::Series as usize],
            season: counts[KindTag::Season as usize],
            episode: counts[KindTag::Episode as usize],
        }
    }
}

impl KindCounts {
    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.movie + self.series + self.season + self.episode
    }
}
