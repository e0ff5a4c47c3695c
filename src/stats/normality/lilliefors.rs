//! The Lilliefors test: the Kolmogorov–Smirnov distance between the sample and the normal
//! distribution fitted to it, as `statsmodels.stats.diagnostic.lilliefors` (= `kstest_fit`,
//! `statsmodels/stats/_lilliefors.py`, statsmodels 0.15.0).

use super::{check_sample, moments_with_spread, normal, sorted_copy};
use crate::stats::descriptive::Centre;
use crate::stats::{StatsError, TestResult};

/// How [`lilliefors_with`] turns D into a p-value. Both reproduce a statsmodels option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LillieforsPValue {
    /// statsmodels `pvalmethod='approx'`: the Dallal–Wilkinson (1986) formula where it gives
    /// p ≤ 0.1, the table otherwise. Small p-values are not clipped.
    #[default]
    DallalWilkinson,
    /// statsmodels `pvalmethod='table'` (its default): linear interpolation in a table of
    /// critical values from 10⁷ simulations, clipped to [0.001, 0.99].
    Table,
}

/// Lilliefors test of normality with the Dallal–Wilkinson p-value
/// (`lilliefors_with(x, LillieforsPValue::DallalWilkinson)`).
///
/// **Why this p-value.** statsmodels' default table clips p at 0.001, so a Lilliefors p-value
/// could never pass a Bonferroni or Holm threshold below 0.001 (50 or more coordinates or
/// projections at α = 0.05), however non-normal the data. The Dallal–Wilkinson formula is not
/// clipped; it is the same formula R `nortest::lillie.test` uses for p ≤ 0.1 (above 0.1 nortest
/// switches to a Stephens polynomial and differs from statsmodels' table by about 0.01).
///
/// See [`lilliefors_with`] for the statistic, formulas, references and cost.
pub fn lilliefors(x: &[f64]) -> Result<TestResult, StatsError> {
    lilliefors_with(x, LillieforsPValue::DallalWilkinson)
}

/// Lilliefors test of normality (mean and variance estimated) with the chosen p-value method.
///
/// **Statistic.** With zᵢ = (y₍ᵢ₎ − x̄)/s (order statistics, s with divisor n − 1, deviations
/// by the corrected two-pass mean [`Centre`]) and Φ the
/// standard normal CDF: D⁺ = maxᵢ (i/n − Φ(zᵢ)), D⁻ = maxᵢ (Φ(zᵢ) − (i − 1)/n),
/// D = max(D⁺, D⁻); 0 < D < 1.
///
/// **p-value, Dallal–Wilkinson** (statsmodels `pval_lf`): for n > 100 replace D by
/// D·(n/100)^0.49 and n by 100; then
/// p = exp(−7.01256·D²(n + 2.78019) + 2.99587·D·√(n + 2.78019) − 0.122119 + 0.974598/√n +
/// 1.67997/n). The formula is valid for p ≤ 0.1 ("2 to 3 decimals"); when it exceeds 0.1 the
/// table value is returned instead.
///
/// **p-value, table** (statsmodels `TableDist.prob`): critical values at
/// α ∈ {0.001, 0.003, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99}
/// for n ∈ {4, …, 20, 25, 30, 40, 50, 100, 200, 400, 800, 1600}, linearly interpolated in n;
/// for n > 1600, cv_α(n) = exp(b_α − 0.45068579·ln n − 0.00356741·(ln n)²). p is then the
/// linear interpolation of α in cv, clipped to [0.001, 0.99]. The table is statsmodels'
/// (`_lilliefors_critical_values.py`, 10⁷ simulations); `tests/reference/stats_normality.rs` checks that
/// the copy below equals it entry by entry. Its accuracy is that of the simulated critical
/// values plus the linear interpolation between tabulated α and n; statsmodels states no
/// figure. Near α = 0.05 the interpolation is between 0.025, 0.05 and 0.075.
///
/// References: Lilliefors, H. W. (1967), *JASA* 62, 399–402; Dallal, G. E. & Wilkinson, L.
/// (1986), *The American Statistician* 40, 294–296. Checked against
/// `statsmodels.stats.diagnostic.lilliefors(x, dist='norm', pvalmethod=…)` (statsmodels 0.15.0)
/// to 1e-10 relative in D and p; the references' own accuracy is as stated above.
///
/// Errors: n < 4 (as statsmodels), NaN/∞, constant data (statsmodels does not check this and
/// returns a meaningless D for data such as twelve copies of 0.1). Cost: O(n log n) time (sort),
/// O(n) memory.
pub fn lilliefors_with(x: &[f64], method: LillieforsPValue) -> Result<TestResult, StatsError> {
    check_sample("lilliefors", x, 4)?;
    let m = moments_with_spread(x)?;
    let centre = Centre::of(x);
    let s = m.variance().sqrt();
    let y = sorted_copy(x);
    let n = y.len();
    let nf = n as f64;
    let (mut d_plus, mut d_minus) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (i, &yi) in y.iter().enumerate() {
        let c = normal::cdf(centre.dev(yi) / s);
        d_plus = d_plus.max((i + 1) as f64 / nf - c);
        d_minus = d_minus.max(c - i as f64 / nf);
    }
    let d = d_plus.max(d_minus);
    let p = match method {
        LillieforsPValue::DallalWilkinson => {
            let p = dallal_wilkinson(d, n);
            if p > 0.1 {
                table_p(d, n)
            } else {
                p
            }
        }
        LillieforsPValue::Table => table_p(d, n),
    };
    Ok(TestResult {
        statistic: d,
        p_value: p,
    })
}

/// Dallal & Wilkinson's (1986) approximation (statsmodels `pval_lf`). Valid for p ≤ 0.1.
fn dallal_wilkinson(d: f64, n: usize) -> f64 {
    let (mut d, mut n) = (d, n as f64);
    if n > 100.0 {
        d *= (n / 100.0).powf(0.49);
        n = 100.0;
    }
    (-7.01256 * d * d * (n + 2.78019) + 2.99587 * d * (n + 2.78019).sqrt() - 0.122119
        + 0.974598 / n.sqrt()
        + 1.67997 / n)
        .exp()
}

/// Percentiles of the null distribution of D in statsmodels' table; α = 1 − percentile/100,
/// computed in f64 exactly as statsmodels does (so the clip value is 0.0009999999999998899).
const PERCENTILES: [f64; 14] = [
    99.9, 99.7, 99.5, 99.0, 97.5, 95.0, 92.5, 90.0, 75.0, 50.0, 25.0, 10.0, 5.0, 1.0,
];

/// Intercepts b_α of the asymptotic critical values (n > 1600), in the order of `PERCENTILES`.
const ASYMP_B: [f64; 14] = [
    0.04129756,
    -0.0281863,
    -0.06398777,
    -0.11709649,
    -0.1979977,
    -0.26969888,
    -0.31737193,
    -0.35446139,
    -0.49861004,
    -0.6607348,
    -0.81912169,
    -0.95518114,
    -1.03298277,
    -1.17114969,
];
const ASYMP_C1: f64 = -0.45068579;
const ASYMP_C2: f64 = -0.00356741;

const TABLE_N: [f64; 26] = [
    4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0,
];

/// Critical values of D, one row per `TABLE_N`, columns in the order of `PERCENTILES`
/// (α ascending). Copied from statsmodels 0.15.0 `_lilliefors_critical_values.py`.
#[rustfmt::skip]
const TABLE_CV: [[f64; 14]; 26] = [
    [0.43265213, 0.4261507, 0.42157653, 0.41307904, 0.39563998, 0.37521968, 0.35917374, 0.34532673, 0.29341032, 0.25828924, 0.22120362, 0.18664724, 0.16876575, 0.14467854], // n = 4
    [0.4386304, 0.42293504, 0.41322814, 0.39671728, 0.36727643, 0.34309223, 0.32936832, 0.31900772, 0.27766941, 0.2333944, 0.20235666, 0.17638354, 0.16098893, 0.13587046], // n = 5
    [0.42304439, 0.40001813, 0.38760943, 0.37038945, 0.3456671, 0.32338252, 0.30829444, 0.29713753, 0.2585473, 0.2186713, 0.18597849, 0.16384021, 0.15139467, 0.12919635], // n = 6
    [0.40078798, 0.37908881, 0.3678189, 0.35070348, 0.32532967, 0.3042307, 0.29068512, 0.28031415, 0.24243592, 0.20617949, 0.17435948, 0.15238656, 0.14163065, 0.12263812], // n = 7
    [0.38252055, 0.3603517, 0.34911188, 0.33279908, 0.30862157, 0.28804474, 0.27501697, 0.2652001, 0.22936164, 0.19477376, 0.16537078, 0.14353311, 0.13297288, 0.11633728], // n = 8
    [0.36524182, 0.34406772, 0.33312043, 0.31708299, 0.29383667, 0.27415243, 0.26161129, 0.25223085, 0.21822055, 0.18510669, 0.15748048, 0.1365291, 0.126086, 0.11029593], // n = 9
    [0.35061378, 0.32960742, 0.31888089, 0.30341763, 0.2809226, 0.26202351, 0.25001629, 0.24098605, 0.20848607, 0.17679904, 0.15042835, 0.13065174, 0.12044377, 0.10487398], // n = 10
    [0.33743951, 0.31678589, 0.30646087, 0.29148756, 0.26961902, 0.25142048, 0.23987246, 0.23119563, 0.19993088, 0.1695621, 0.14421024, 0.12540948, 0.11563925, 0.10036835], // n = 11
    [0.32558601, 0.30538827, 0.29526801, 0.28077229, 0.25959488, 0.24194831, 0.23082937, 0.22244871, 0.19233706, 0.16313672, 0.13877133, 0.12069511, 0.11137479, 0.09649147], // n = 12
    [0.31445229, 0.29504428, 0.28519234, 0.27100552, 0.25054975, 0.23346007, 0.22267463, 0.21463087, 0.18555597, 0.15739248, 0.13389325, 0.11647389, 0.10753337, 0.09318309], // n = 13
    [0.30466148, 0.28555592, 0.2760657, 0.26231339, 0.2423819, 0.22585144, 0.21536969, 0.2075745, 0.17944478, 0.15221479, 0.12948657, 0.11266368, 0.1040431, 0.09024138], // n = 14
    [0.29551017, 0.27706522, 0.26772298, 0.25427802, 0.23499116, 0.21891697, 0.20879449, 0.2011939, 0.17390304, 0.14751778, 0.12552356, 0.1092263, 0.10085666, 0.08750578], // n = 15
    [0.28745211, 0.26913735, 0.26003621, 0.24703504, 0.22822187, 0.21257643, 0.20274039, 0.19537444, 0.16885124, 0.14327014, 0.1219047, 0.10607182, 0.09795236, 0.08501529], // n = 16
    [0.2798316, 0.26200104, 0.25306469, 0.2402864, 0.22204864, 0.20683438, 0.19722541, 0.1900207, 0.16422592, 0.13936135, 0.11859867, 0.10320903, 0.09529635, 0.0827393], // n = 17
    [0.27285099, 0.25527246, 0.24665892, 0.23420221, 0.2163409, 0.20145911, 0.1921063, 0.18509495, 0.15996707, 0.13575222, 0.11554003, 0.10055901, 0.09285546, 0.08063198], // n = 18
    [0.26624557, 0.24912401, 0.24068403, 0.22854301, 0.21105313, 0.19652196, 0.18736281, 0.18052002, 0.15602767, 0.1324079, 0.11271608, 0.09810264, 0.09059543, 0.0786934], // n = 19
    [0.2602868, 0.24349604, 0.23513834, 0.22327259, 0.20610189, 0.19190794, 0.18297149, 0.1762829, 0.15236687, 0.12930804, 0.11008398, 0.09582876, 0.08852309, 0.07686372], // n = 20
    [0.2350391, 0.21979198, 0.21221932, 0.2013265, 0.18582499, 0.17300926, 0.16493761, 0.15889286, 0.1373056, 0.11656692, 0.09927555, 0.08645091, 0.07985746, 0.06933943], // n = 25
    [0.21612086, 0.20198353, 0.19492393, 0.18492078, 0.17058849, 0.15878307, 0.15138566, 0.14586121, 0.12603791, 0.10701841, 0.09118039, 0.07942847, 0.07339662, 0.06380332], // n = 30
    [0.18870328, 0.17633078, 0.17009968, 0.16131916, 0.14877502, 0.13850018, 0.13202416, 0.12719016, 0.10994266, 0.09339439, 0.07961554, 0.06940064, 0.06414642, 0.055784], // n = 40
    [0.16985345, 0.15854061, 0.15299605, 0.14504504, 0.1337458, 0.12444044, 0.11863768, 0.11431303, 0.09882109, 0.08395875, 0.07160481, 0.06243507, 0.05773701, 0.05022994], // n = 50
    [0.12161442, 0.11338394, 0.10937278, 0.10373761, 0.09564506, 0.08900091, 0.08483991, 0.08173283, 0.07068396, 0.06011456, 0.05131964, 0.0448043, 0.04146075, 0.0361047], // n = 100
    [0.08663425, 0.08074047, 0.07788879, 0.0738379, 0.06809025, 0.06336215, 0.06041126, 0.05820564, 0.05036816, 0.04286406, 0.0366259, 0.03200533, 0.02963511, 0.02584151], // n = 200
    [0.06145404, 0.05733374, 0.05530289, 0.0524239, 0.04834792, 0.04500619, 0.04290933, 0.04135097, 0.03580284, 0.03049198, 0.02607295, 0.02280475, 0.02112065, 0.01844162], // n = 400
    [0.04361741, 0.0406419, 0.03922491, 0.03718247, 0.03429131, 0.03192094, 0.03043873, 0.02933599, 0.02540595, 0.02164634, 0.01852257, 0.01620598, 0.01501723, 0.0131231], // n = 800
    [0.03088286, 0.02879721, 0.02777611, 0.02634302, 0.02429563, 0.02262168, 0.02157469, 0.02079512, 0.0180115, 0.0153528, 0.01314135, 0.01150366, 0.01066126, 0.00932049], // n = 1600
];

fn alpha(j: usize) -> f64 {
    1.0 - PERCENTILES[j] / 100.0
}

/// scipy `interp1d(xs, ys)(x)` (linear) for ascending `xs`: the bracket is found as numpy's
/// `searchsorted(xs, x)` (left), clipped to [1, len − 1], then slope·(x − x_lo) + y_lo.
fn interp1d(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let idx = xs.partition_point(|&v| v < x).clamp(1, xs.len() - 1);
    let (lo, hi) = (idx - 1, idx);
    let slope = (ys[hi] - ys[lo]) / (xs[hi] - xs[lo]);
    slope * (x - xs[lo]) + ys[lo]
}

/// Critical values at sample size n, in the order of `PERCENTILES` (statsmodels
/// `TableDist._critvals`).
fn critical_values(n: usize) -> [f64; 14] {
    let nf = n as f64;
    let mut cv = [0.0; 14];
    if nf > TABLE_N[TABLE_N.len() - 1] {
        let l = nf.ln();
        for (c, &b) in cv.iter_mut().zip(ASYMP_B.iter()) {
            *c = (b + l * ASYMP_C1 + l * l * ASYMP_C2).exp();
        }
    } else {
        let mut col = [0.0; TABLE_N.len()];
        for (j, c) in cv.iter_mut().enumerate() {
            for (k, row) in TABLE_CV.iter().enumerate() {
                col[k] = row[j];
            }
            *c = interp1d(&TABLE_N, &col, nf);
        }
    }
    cv
}

/// Table p-value of D at sample size n (statsmodels `TableDist.prob`), in [0.001, 0.99].
fn table_p(d: f64, n: usize) -> f64 {
    // Critical values fall as α rises; reverse both so that cv ascends.
    let mut cv = critical_values(n);
    cv.reverse();
    let mut al = [0.0; 14];
    for (j, a) in al.iter_mut().enumerate() {
        *a = alpha(13 - j);
    }
    if d < cv[0] {
        al[0]
    } else if d > cv[13] {
        al[13]
    } else {
        interp1d(&cv, &al, d)
    }
}

/// The embedded table, for the cross-check against statsmodels in the tests.
#[doc(hidden)]
pub fn lilliefors_table_for_tests() -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    (
        (0..14).map(alpha).collect(),
        TABLE_N.to_vec(),
        TABLE_CV.iter().map(|r| r.to_vec()).collect(),
    )
}

/// Critical values at n (α ascending), for the cross-check against statsmodels in the tests.
#[doc(hidden)]
pub fn lilliefors_critical_values_for_tests(n: usize) -> [f64; 14] {
    critical_values(n)
}
