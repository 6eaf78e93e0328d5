//! Which inferred EMBER elements to send, and the offer catalog's id.
//!
//! `--omit-inferred NAME[,NAME]` (catalogctl) and `EMBER_OMIT_INFERRED`
//! (the builder Lambda) both parse into an [`Omit`] with [`Omit::parse`].
//! Everything is sent by default, the TV hierarchy (`Relationships`)
//! included.

use thiserror::Error;

use super::schema::Inferred;
use crate::model::Item;

/// A name that is not an inferred element.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{name:?} is not an inferred EMBER element; use one of {known} (fix: correct the name or drop it)"
)]
pub struct OptionsError {
    /// The name given.
    pub name: String,
    /// The names accepted.
    pub known: String,
}

/// A set of inferred elements not to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Omit(u32);

impl Omit {
    /// Nothing omitted: the default.
    pub const NONE: Omit = Omit(0);

    /// Parses a comma-separated list of names (case ignored, blanks skipped).
    pub fn parse(list: &str) -> Result<Omit, OptionsError> {
        let mut omit = Omit::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Inferred::parse(name) {
                Some(switch) => omit = omit.with(switch),
                None => {
                    return Err(OptionsError {
                        name: name.to_owned(),
                        known: Inferred::ALL.map(Inferred::name).join(", "),
                    });
                }
            }
        }
        Ok(omit)
    }

    /// This set plus `switch`.
    pub fn with(self, switch: Inferred) -> Omit {
        Omit(self.0 | 1 << switch as u32)
    }

    /// Whether `switch` is omitted.
    pub fn omits(self, switch: Inferred) -> bool {
        self.0 & (1 << switch as u32) != 0
    }

    /// Whether `switch` is sent.
    pub fn sends(self, switch: Inferred) -> bool {
        !self.omits(switch)
    }

    /// The names omitted, comma-separated (empty when none).
    pub fn names(self) -> String {
        Inferred::ALL
            .into_iter()
            .filter(|s| self.omits(*s))
            .map(Inferred::name)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Clears from `item` what will not be sent, so the content hash the
    /// state keeps is the hash of what the catalog carries. The TV
    /// hierarchy is structural and stays in the model; only its writing is
    /// switched off.
    pub fn strip(self, item: &mut Item) {
        let meta = &mut item.meta;
        if self.omits(Inferred::Genres) {
            meta.genres.clear();
        }
        if self.omits(Inferred::Keywords) {
            meta.keywords.clear();
        }
        if self.omits(Inferred::Ratings) {
            meta.rating = None;
        }
        if self.omits(Inferred::Studios) {
            meta.studios.clear();
        }
        if self.omits(Inferred::Credits) {
            meta.credits.clear();
        }
        if self.omits(Inferred::RunLengths) {
            meta.runtime_minutes = None;
        }
        if self.omits(Inferred::ReleaseDates) {
            meta.release_dates.clear();
        }
        if self.omits(Inferred::LaunchTargets) {
            meta.deep_link = None;
        }
        for offer in &mut meta.offers {
            if self.omits(Inferred::GeoRestrictions) {
                offer.region.clear();
            }
            if self.omits(Inferred::OfferWindow) {
                offer.start = None;
                offer.end = None;
            }
        }
    }
}

/// How the writer shapes an EMBER document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmberOptions {
    /// Inferred elements not to send.
    pub omit: Omit,
    /// The `OfferCatalog@id`; `None` means `<program catalog id>-offers`.
    pub offer_catalog_id: Option<String>,
}

impl EmberOptions {
    /// The offer catalog id for a program catalog id.
    pub fn offer_catalog_id(&self, program_catalog_id: &str) -> String {
        match &self.offer_catalog_id {
            Some(id) => id.clone(),
            None => format!("{program_catalog_id}-offers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_refuses_unknown_ones_naming_the_choices() {
        let omit = Omit::parse(" credits, RunLengths ,").unwrap();
        assert!(omit.omits(Inferred::Credits) && omit.omits(Inferred::RunLengths));
        assert!(omit.sends(Inferred::Relationships));
        assert_eq!(omit.names(), "Credits,RunLengths");
        let err = Omit::parse("Credits,Titles").unwrap_err();
        assert_eq!(err.name, "Titles");
        assert!(err.to_string().contains("Relationships"));
    }

    #[test]
    fn strip_clears_keywords_and_studios_only_when_they_are_omitted() {
        let mut item = crate::synthetic::Synthetic::new(1, 1).next().unwrap();
        item.meta.keywords = vec!["heist".into()];
        item.meta.studios = vec!["Acme".into()];
        let kept = item.clone();
        Omit::NONE.with(Inferred::Genres).strip(&mut item);
        assert_eq!(item.meta.keywords, kept.meta.keywords);
        assert_eq!(item.meta.studios, kept.meta.studios);
        Omit::parse("Keywords,studios").unwrap().strip(&mut item);
        assert!(item.meta.keywords.is_empty() && item.meta.studios.is_empty());
        assert_eq!(item.meta.genres, Vec::<String>::new());
        assert_eq!(item.meta.title, kept.meta.title);
        assert_eq!(item.meta.external_ids, kept.meta.external_ids);
    }

    #[test]
    fn offer_catalog_id_defaults_to_the_program_catalog_id_plus_offers() {
        let options = EmberOptions::default();
        assert_eq!(options.offer_catalog_id("ACME"), "ACME-offers");
        let options = EmberOptions {
            offer_catalog_id: Some("ACME_OFFERS".into()),
            ..EmberOptions::default()
        };
        assert_eq!(options.offer_catalog_id("ACME"), "ACME_OFFERS");
    }
}
