//! BibTeX entries for every method a report may rely on, and the citation of sgd-ou itself.
//!
//! [`bibtex_for`] writes only the cited entries, sorted by key, so a report's `references.bib`
//! is deterministic and holds what its methods paragraph cites. [`sgd_ou_citation`] builds the
//! BibTeX for sgd-ou from the repository's CITATION.cff (embedded at compile time), so the two
//! cannot disagree. Entries give authors, title, venue, year, volume, number, pages and the DOI
//! where one exists (JMLR, PMLR, ICLR, Sankhyā, the Scandinavian Journal of Statistics 1979,
//! Bonferroni 1936, Esseen 1942 and the Bayesian Statistics 4 proceedings have none); titles
//! protect proper nouns with braces so any bibliography style keeps their capitals.

use std::collections::BTreeSet;

use thiserror::Error;

/// One bibliography entry: key, BibTeX type and fields in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub key: &'static str,
    pub kind: &'static str,
    pub fields: &'static [(&'static str, &'static str)],
}

impl Reference {
    /// The value of a field, if present.
    pub fn field(&self, name: &str) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }

    /// The entry as BibTeX text (fields aligned, one per line, trailing newline).
    pub fn bibtex(&self) -> String {
        let width = self.fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = format!("@{}{{{},\n", self.kind, self.key);
        for (k, v) in self.fields {
            out.push_str(&format!("  {k:<width$} = {{{v}}},\n"));
        }
        out.push_str("}\n");
        out
    }
}

/// A key that is not in [`REFERENCES`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("no bibliography entry for {0:?}")]
pub struct UnknownKey(pub String);

/// The entry with this key.
pub fn reference(key: &str) -> Option<&'static Reference> {
    REFERENCES.iter().find(|r| r.key == key)
}

/// BibTeX for the given keys: each entry once, sorted by key, separated by blank lines.
///
/// # Errors
/// [`UnknownKey`] for the first key that has no entry.
pub fn bibtex_for<S: AsRef<str>>(keys: &[S]) -> Result<String, UnknownKey> {
    let set: BTreeSet<&str> = keys.iter().map(|k| k.as_ref()).collect();
    let mut parts = Vec::with_capacity(set.len());
    for key in set {
        parts.push(
            reference(key)
                .ok_or_else(|| UnknownKey(key.into()))?
                .bibtex(),
        );
    }
    Ok(parts.join("\n"))
}

/// The repository's CITATION.cff, embedded at compile time.
pub const CITATION_CFF: &str = include_str!("../../CITATION.cff");

/// The value of a top-level scalar key of CITATION.cff (quotes removed).
pub fn cff_field(key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    CITATION_CFF
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Author names of the top-level `authors:` list of CITATION.cff (`name`, or
/// `family-names, given-names`), in order.
fn cff_authors() -> Vec<String> {
    let mut out = Vec::new();
    let mut in_authors = false;
    let mut family: Option<String> = None;
    for line in CITATION_CFF.lines() {
        if !line.starts_with(' ') && !line.starts_with('-') {
            in_authors = line.starts_with("authors:");
            continue;
        }
        if !in_authors {
            continue;
        }
        let item = line.trim_start().trim_start_matches("- ").trim();
        let value = |p: &str| {
            item.strip_prefix(p)
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        if let Some(n) = value("name:") {
            out.push(format!("{{{n}}}"));
        } else if let Some(f) = value("family-names:") {
            family = Some(f);
        } else if let (Some(g), Some(f)) = (value("given-names:"), family.take()) {
            out.push(format!("{f}, {g}"));
        }
    }
    out
}

/// BibTeX for sgd-ou itself, from CITATION.cff: title, authors, version, year of release,
/// licence and repository (when CITATION.cff gives one). The key is `sgd-ou`. The entry type is
/// `@misc` with the version also in `note`, so classic BibTeX styles (which do not know
/// `@software`) print it without warnings; biblatex reads the `version` field.
pub fn sgd_ou_citation() -> String {
    let version = cff_field("version").unwrap_or_else(|| env!("CARGO_PKG_VERSION").into());
    let title = cff_field("title").unwrap_or_else(|| "sgd-ou".into());
    let mut fields = vec![
        ("author", cff_authors().join(" and ")),
        (
            "title",
            crate::report::escape::latex_text(&title).replace("sgd-ou", "{sgd-ou}"),
        ),
        ("version", version.clone()),
        ("note", format!("Version {version}")),
    ];
    if let Some(date) = cff_field("date-released") {
        fields.push(("year", date.chars().take(4).collect()));
        fields.push(("date", date));
    }
    if let Some(l) = cff_field("license") {
        fields.push(("license", l));
    }
    if let Some(url) = cff_field("repository-code") {
        fields.push(("url", url));
    }
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::from("@misc{sgd-ou,\n");
    for (k, v) in fields {
        out.push_str(&format!("  {k:<width$} = {{{v}}},\n"));
    }
    out.push_str("}\n");
    out
}

macro_rules! refs {
    ($($key:literal $kind:literal { $($f:ident = $v:literal),* $(,)? })*) => {
        /// Every entry, sorted by key.
        pub static REFERENCES: &[Reference] = &[
            $(Reference { key: $key, kind: $kind, fields: &[$((stringify!($f), $v)),*] }),*
        ];
    };
}

refs! {
"anderson1952" "article" {
    author = "Anderson, T. W. and Darling, D. A.",
    title = "Asymptotic Theory of Certain ``Goodness of Fit'' Criteria Based on Stochastic Processes",
    journal = "The Annals of Mathematical Statistics", year = "1952", volume = "23", number = "2",
    pages = "193--212", doi = "10.1214/aoms/1177729437" }
"anderson1954" "article" {
    author = "Anderson, T. W. and Darling, D. A.",
    title = "A Test of Goodness of Fit",
    journal = "Journal of the American Statistical Association", year = "1954", volume = "49",
    number = "268", pages = "765--769", doi = "10.1080/01621459.1954.10501232" }
"anscombe1983" "article" {
    author = "Anscombe, F. J. and Glynn, William J.",
    title = "Distribution of the Kurtosis Statistic $b_2$ for Normal Samples",
    journal = "Biometrika", year = "1983", volume = "70", number = "1", pages = "227--234",
    doi = "10.1093/biomet/70.1.227" }
"bartels1972" "article" {
    author = "Bartels, R. H. and Stewart, G. W.",
    title = "Solution of the Matrix Equation ${AX + XB = C}$ [{F4}] ({Algorithm} 432)",
    journal = "Communications of the ACM", year = "1972", volume = "15", number = "9",
    pages = "820--826", doi = "10.1145/361573.361582" }
"benjamini1995" "article" {
    author = "Benjamini, Yoav and Hochberg, Yosef",
    title = "Controlling the False Discovery Rate: A Practical and Powerful Approach to Multiple Testing",
    journal = "Journal of the Royal Statistical Society: Series B (Methodological)", year = "1995",
    volume = "57", number = "1", pages = "289--300",
    doi = "10.1111/j.2517-6161.1995.tb02031.x" }
"benjamini2001" "article" {
    author = "Benjamini, Yoav and Yekutieli, Daniel",
    title = "The Control of the False Discovery Rate in Multiple Testing under Dependency",
    journal = "The Annals of Statistics", year = "2001", volume = "29", number = "4",
    pages = "1165--1188", doi = "10.1214/aos/1013699998" }
"berger1982" "article" {
    author = "Berger, Roger L.",
    title = "Multiparameter Hypothesis Testing and Acceptance Sampling",
    journal = "Technometrics", year = "1982", volume = "24", number = "4", pages = "295--300" }
"berry1941" "article" {
    author = "Berry, Andrew C.",
    title = "The Accuracy of the {Gaussian} Approximation to the Sum of Independent Variates",
    journal = "Transactions of the American Mathematical Society", year = "1941", volume = "49",
    number = "1", pages = "122--136", doi = "10.1090/S0002-9947-1941-0003498-3" }
"bonferroni1936" "article" {
    author = "Bonferroni, Carlo E.",
    title = "Teoria statistica delle classi e calcolo delle probabilit{\\`a}",
    journal = "Pubblicazioni del R. Istituto Superiore di Scienze Economiche e Commerciali di Firenze",
    year = "1936", volume = "8", pages = "3--62" }
"box1949" "article" {
    author = "Box, G. E. P.",
    title = "A General Distribution Theory for a Class of Likelihood Criteria",
    journal = "Biometrika", year = "1949", volume = "36", number = "3/4", pages = "317--346",
    doi = "10.1093/biomet/36.3-4.317" }
"cai2013" "article" {
    author = "Cai, Tony and Liu, Weidong and Xia, Yin",
    title = "Two-Sample Covariance Matrix Testing and Support Recovery in High-Dimensional and Sparse Settings",
    journal = "Journal of the American Statistical Association", year = "2013", volume = "108",
    number = "501", pages = "265--277", doi = "10.1080/01621459.2012.758041" }
"dagostino1970" "article" {
    author = "D'Agostino, Ralph B.",
    title = "Transformation to Normality of the Null Distribution of $g_1$",
    journal = "Biometrika", year = "1970", volume = "57", number = "3", pages = "679--681",
    doi = "10.1093/biomet/57.3.679" }
"dagostino1971" "article" {
    author = "D'Agostino, Ralph B.",
    title = "An Omnibus Test of Normality for Moderate and Large Size Samples",
    journal = "Biometrika", year = "1971", volume = "58", number = "2", pages = "341--348",
    doi = "10.1093/biomet/58.2.341" }
"dagostino1973" "article" {
    author = "D'Agostino, Ralph and Pearson, E. S.",
    title = "Tests for Departure from Normality. {Empirical} Results for the Distributions of $b_2$ and $\\sqrt{b_1}$",
    journal = "Biometrika", year = "1973", volume = "60", number = "3", pages = "613--622",
    doi = "10.1093/biomet/60.3.613" }
"dagostino1990" "article" {
    author = "D'Agostino, Ralph B. and Belanger, Albert and D'Agostino, Jr., Ralph B.",
    title = "A Suggestion for Using Powerful and Informative Tests of Normality",
    journal = "The American Statistician", year = "1990", volume = "44", number = "4",
    pages = "316--321", doi = "10.1080/00031305.1990.10475751" }
"dallal1986" "article" {
    author = "Dallal, Gerard E. and Wilkinson, Leland",
    title = "An Analytic Approximation to the Distribution of {Lilliefors's} Test Statistic for Normality",
    journal = "The American Statistician", year = "1986", volume = "40", number = "4",
    pages = "294--296", doi = "10.1080/00031305.1986.10475419" }
"efron1993" "book" {
    author = "Efron, Bradley and Tibshirani, Robert J.",
    title = "An Introduction to the Bootstrap",
    publisher = "Chapman \\& Hall", address = "New York", year = "1993",
    series = "Monographs on Statistics and Applied Probability", volume = "57",
    doi = "10.1007/978-1-4899-4541-9" }
"esseen1942" "article" {
    author = "Esseen, Carl-Gustav",
    title = "On the {Liapounoff} Limit of Error in the Theory of Probability",
    journal = "Arkiv f{\\\"o}r Matematik, Astronomi och Fysik", year = "1942", volume = "28A",
    number = "9", pages = "1--19" }
"geweke1992" "incollection" {
    author = "Geweke, John",
    title = "Evaluating the Accuracy of Sampling-Based Approaches to the Calculation of Posterior Moments",
    booktitle = "Bayesian Statistics 4",
    editor = "Bernardo, J. M. and Berger, J. O. and Dawid, A. P. and Smith, A. F. M.",
    publisher = "Oxford University Press", address = "Oxford", year = "1992", pages = "169--193" }
"geyer1992" "article" {
    author = "Geyer, Charles J.",
    title = "Practical {Markov} Chain {Monte} {Carlo}",
    journal = "Statistical Science", year = "1992", volume = "7", number = "4", pages = "473--483",
    doi = "10.1214/ss/1177011137" }
"halko2011" "article" {
    author = "Halko, N. and Martinsson, P. G. and Tropp, J. A.",
    title = "Finding Structure with Randomness: Probabilistic Algorithms for Constructing Approximate Matrix Decompositions",
    journal = "SIAM Review", year = "2011", volume = "53", number = "2", pages = "217--288",
    doi = "10.1137/090771806" }
"henze1990" "article" {
    author = "Henze, N. and Zirkler, B.",
    title = "A Class of Invariant Consistent Tests for Multivariate Normality",
    journal = "Communications in Statistics -- Theory and Methods", year = "1990", volume = "19",
    number = "10", pages = "3595--3617", doi = "10.1080/03610929008830400" }
"hill1975" "article" {
    author = "Hill, Bruce M.",
    title = "A Simple General Approach to Inference About the Tail of a Distribution",
    journal = "The Annals of Statistics", year = "1975", volume = "3", number = "5",
    pages = "1163--1174", doi = "10.1214/aos/1176343247" }
"hochberg1988" "article" {
    author = "Hochberg, Yosef",
    title = "A Sharper {Bonferroni} Procedure for Multiple Tests of Significance",
    journal = "Biometrika", year = "1988", volume = "75", number = "4", pages = "800--802",
    doi = "10.1093/biomet/75.4.800" }
"holm1979" "article" {
    author = "Holm, Sture",
    title = "A Simple Sequentially Rejective Multiple Test Procedure",
    journal = "Scandinavian Journal of Statistics", year = "1979", volume = "6", number = "2",
    pages = "65--70" }
"jarque1980" "article" {
    author = "Jarque, Carlos M. and Bera, Anil K.",
    title = "Efficient Tests for Normality, Homoscedasticity and Serial Independence of Regression Residuals",
    journal = "Economics Letters", year = "1980", volume = "6", number = "3", pages = "255--259",
    doi = "10.1016/0165-1765(80)90024-5" }
"jarque1987" "article" {
    author = "Jarque, Carlos M. and Bera, Anil K.",
    title = "A Test for Normality of Observations and Regression Residuals",
    journal = "International Statistical Review", year = "1987", volume = "55", number = "2",
    pages = "163--172", doi = "10.2307/1403192" }
"lilliefors1967" "article" {
    author = "Lilliefors, Hubert W.",
    title = "On the {Kolmogorov}--{Smirnov} Test for Normality with Mean and Variance Unknown",
    journal = "Journal of the American Statistical Association", year = "1967", volume = "62",
    number = "318", pages = "399--402", doi = "10.1080/01621459.1967.10482916" }
"mandt2017" "article" {
    author = "Mandt, Stephan and Hoffman, Matthew D. and Blei, David M.",
    title = "Stochastic Gradient Descent as Approximate {Bayesian} Inference",
    journal = "Journal of Machine Learning Research", year = "2017", volume = "18",
    number = "134", pages = "1--35", url = "http://jmlr.org/papers/v18/17-214.html" }
"mardia1970" "article" {
    author = "Mardia, K. V.",
    title = "Measures of Multivariate Skewness and Kurtosis with Applications",
    journal = "Biometrika", year = "1970", volume = "57", number = "3", pages = "519--530",
    doi = "10.1093/biomet/57.3.519" }
"mardia1974" "article" {
    author = "Mardia, K. V.",
    title = "Applications of Some Measures of Multivariate Skewness and Kurtosis in Testing Normality and Robustness Studies",
    journal = "Sankhy{\\=a}: The Indian Journal of Statistics, Series B", year = "1974",
    volume = "36", number = "2", pages = "115--128" }
"mohammadi2015" "article" {
    author = "Mohammadi, Mohammad and Mohammadpour, Adel and Ogata, Hiroaki",
    title = "On Estimating the Tail Index and the Spectral Measure of Multivariate $\\alpha$-Stable Distributions",
    journal = "Metrika", year = "2015", volume = "78", number = "5", pages = "549--561",
    doi = "10.1007/s00184-014-0515-7" }
"panigrahi2019" "misc" {
    author = "Panigrahi, Abhishek and Somani, Raghav and Goyal, Navin and Netrapalli, Praneeth",
    title = "Non-{Gaussianity} of Stochastic Gradient Noise",
    howpublished = "Science meets Engineering of Deep Learning (SEDL) workshop, NeurIPS 2019; arXiv:1910.09626",
    year = "2019", eprint = "1910.09626", archiveprefix = "arXiv" }
"royston1992" "article" {
    author = "Royston, Patrick",
    title = "Approximating the {Shapiro}--{Wilk} {W}-Test for Non-Normality",
    journal = "Statistics and Computing", year = "1992", volume = "2", number = "3",
    pages = "117--119", doi = "10.1007/BF01891203" }
"royston1995" "article" {
    author = "Royston, Patrick",
    title = "Remark {AS} {R94}: A Remark on Algorithm {AS} 181: The {W}-Test for Normality",
    journal = "Journal of the Royal Statistical Society: Series C (Applied Statistics)",
    year = "1995", volume = "44", number = "4", pages = "547--551", doi = "10.2307/2986146" }
"shapiro1965" "article" {
    author = "Shapiro, S. S. and Wilk, M. B.",
    title = "An Analysis of Variance Test for Normality (Complete Samples)",
    journal = "Biometrika", year = "1965", volume = "52", number = "3/4", pages = "591--611",
    doi = "10.1093/biomet/52.3-4.591" }
"simsekli2019" "inproceedings" {
    author = "{\\c{S}}im{\\c{s}}ekli, Umut and Sagun, Levent and G{\\\"u}rb{\\\"u}zbalaban, Mert",
    title = "A Tail-Index Analysis of Stochastic Gradient Noise in Deep Neural Networks",
    booktitle = "Proceedings of the 36th International Conference on Machine Learning",
    series = "Proceedings of Machine Learning Research", volume = "97", year = "2019",
    pages = "5827--5837", publisher = "PMLR" }
"stephens1974" "article" {
    author = "Stephens, M. A.",
    title = "{EDF} Statistics for Goodness of Fit and Some Comparisons",
    journal = "Journal of the American Statistical Association", year = "1974", volume = "69",
    number = "347", pages = "730--737", doi = "10.1080/01621459.1974.10480196" }
"white1997" "article" {
    author = "White, Jr., K. Preston",
    title = "An Effective Truncation Heuristic for Bias Reduction in Simulation Output",
    journal = "Simulation", year = "1997", volume = "69", number = "6", pages = "323--334",
    doi = "10.1177/003754979706900601" }
"yaida2019" "inproceedings" {
    author = "Yaida, Sho",
    title = "Fluctuation-Dissipation Relations for Stochastic Gradient Descent",
    booktitle = "International Conference on Learning Representations (ICLR)", year = "2019",
    eprint = "1810.00004", archiveprefix = "arXiv", note = "arXiv:1810.00004 (2018)" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_unique_and_named_after_first_author_and_year() {
        for w in REFERENCES.windows(2) {
            assert!(w[0].key < w[1].key, "{} before {}", w[0].key, w[1].key);
        }
        for r in REFERENCES {
            let year = r.field("year").unwrap();
            assert!(r.key.ends_with(year), "{}: year {year}", r.key);
            let first = r.field("author").unwrap().to_lowercase();
            let stem = r.key.trim_end_matches(year);
            // Drop accent commands (\c, \") and keep the letters.
            let mut plain = String::new();
            let mut chars = first.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    chars.next();
                } else if c.is_ascii_alphabetic() {
                    plain.push(c);
                }
            }
            assert!(plain.contains(stem), "{}: first author {first}", r.key);
            for f in ["title", "author"] {
                assert!(r.field(f).is_some(), "{}: no {f}", r.key);
            }
            let braces = r
                .fields
                .iter()
                .map(|(_, v)| v.matches('{').count() as i64 - v.matches('}').count() as i64)
                .sum::<i64>();
            assert_eq!(braces, 0, "{}: unbalanced braces", r.key);
        }
    }

    #[test]
    fn articles_with_a_doi_give_volume_and_pages() {
        for r in REFERENCES.iter().filter(|r| r.kind == "article") {
            assert!(
                r.field("journal").is_some()
                    && r.field("volume").is_some()
                    && r.field("pages").is_some(),
                "{}",
                r.key
            );
            if let Some(doi) = r.field("doi") {
                assert!(
                    doi.starts_with("10.") && !doi.contains(' '),
                    "{}: {doi}",
                    r.key
                );
            }
        }
        assert_eq!(
            REFERENCES
                .iter()
                .filter(|r| r.field("doi").is_some())
                .count(),
            30
        );
    }

    #[test]
    fn bibtex_for_is_sorted_deduplicated_and_rejects_unknown_keys() {
        let b = bibtex_for(&["shapiro1965", "box1949", "shapiro1965"]).unwrap();
        assert!(b.starts_with("@article{box1949,\n"));
        assert_eq!(b.matches("@article{").count(), 2);
        assert!(b.find("box1949").unwrap() < b.find("shapiro1965").unwrap());
        assert!(b.contains("  doi     = {10.1093/biomet/52.3-4.591},\n"));
        assert_eq!(
            bibtex_for(&["nobody2020"]),
            Err(UnknownKey("nobody2020".into()))
        );
        assert_eq!(bibtex_for::<&str>(&[]).unwrap(), "");
    }

    #[test]
    fn citation_comes_from_citation_cff() {
        assert_eq!(
            cff_field("version").as_deref(),
            Some(env!("CARGO_PKG_VERSION")),
            "CITATION.cff version differs from Cargo.toml"
        );
        let c = sgd_ou_citation();
        assert!(c.starts_with("@misc{sgd-ou,\n"), "{c}");
        assert!(
            c.contains(&format!("  version = {{{}}},\n", env!("CARGO_PKG_VERSION"))),
            "{c}"
        );
        assert!(
            c.contains("  author  = {{The sgd-ou developers}},\n"),
            "{c}"
        );
        assert!(c.contains("license = {MIT OR Apache-2.0}"), "{c}");
        let date = cff_field("date-released").unwrap();
        assert!(
            c.contains(&format!("  year    = {{{}}},\n", &date[..4])),
            "{c}"
        );
    }
}
