//! Effective sample size of autocorrelated series (Geyer's initial monotone sequence, in the
//! multi-chain form of Stan / Vehtari et al. 2021).

use serde::Serialize;

use super::StatsError;

/// Effective sample size of a series and the matching integrated autocorrelation time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EffectiveSampleSize {
    /// ESS = N / τ̂: the number of independent draws with the same variance of the mean.
    pub ess: f64,
    /// τ̂ = −1 + 2 Σ_{t ≤ t_max} ρ̂_t (+ one trailing positive ρ̂), floored at 1/log₁₀ N.
    pub tau: f64,
    /// N, the total number of values used (an odd-length series loses its middle value when
    /// split).
    pub n: usize,
    /// Number of chains the autocorrelations were combined over (2 for a split single series).
    pub chains: usize,
    /// Largest lag t_max + 1 included in τ̂.
    pub max_lag: usize,
}

/// Effective sample size of one autocorrelated scalar series, for the mean.
///
/// *Method.* Split-chain ESS: the series is cut into its first and last ⌊n/2⌋ values, which are
/// treated as two chains of [`effective_sample_size_chains`] (Vehtari, Gelman, Simpson,
/// Carpenter & Bürkner 2021, "Rank-normalization, folding, and localization: an improved R̂",
/// Bayesian Analysis 16(2), eq. 10 without rank normalisation; Geyer 1992, "Practical Markov
/// chain Monte Carlo", Statistical Science 7(4), initial positive and initial monotone
/// sequences). Splitting makes a drifting, non-stationary series show up as a small ESS through
/// the between-half variance.
///
/// *Reference.* ArviZ 0.23.4 `arviz.ess(x, method="mean")`, which is exactly this algorithm;
/// checked to 1e-9 relative in `tests/reference/ou_estimate.rs`. Calibration (coverage of mean ± 1.96·sd/√ESS
/// on AR(1) series) is checked there too.
///
/// *Errors.* [`StatsError::TooFewSamples`] for fewer than 8 values (ArviZ's minimum of 4 draws
/// per chain); [`StatsError::NonFinite`]; [`StatsError::ZeroVariance`] for a constant series (ArviZ
/// returns N there; here that is an error because no variance can be estimated);
/// [`StatsError::Degenerate`] when the variance overflows (values near f64::MAX).
///
/// *Cost.* O(n log n) (autocovariances by FFT), O(n) memory.
pub fn effective_sample_size(x: &[f64]) -> Result<EffectiveSampleSize, StatsError> {
    if x.len() < 8 {
        return Err(StatsError::TooFewSamples {
            test: "effective_sample_size (series)",
            needed: 8,
            got: x.len(),
        });
    }
    let half = x.len() / 2;
    effective_sample_size_chains(&[&x[..half], &x[x.len() - half..]])
}

/// Effective sample size of the mean over several chains of equal length (no splitting).
///
/// *Formula* (Vehtari et al. 2021 eq. 10; Stan `compute_effective_sample_size`): with M chains
/// of N draws, autocovariances γ̂_{m,t} = (1/N) Σ_i (x_{m,i} − x̄_m)(x_{m,i+t} − x̄_m),
/// W = mean_m γ̂_{m,0} · N/(N − 1), var⁺ = W (N − 1)/N + B/N (B/N = sample variance of the chain
/// means, ddof 1; 0 for one chain), ρ̂_t = 1 − (W − mean_m γ̂_{m,t})/var⁺. Geyer's initial
/// positive sequence keeps pairs (ρ̂_{2s}, ρ̂_{2s+1}) while their sum is positive, the initial
/// monotone sequence makes the pair sums non-increasing, and τ̂ = −1 + 2 Σ_{t ≤ t_max} ρ̂_t + ρ̂_{t_max+1}
/// (the last term when positive), floored at 1/log₁₀(MN). ESS = MN/τ̂.
///
/// *Reference.* ArviZ 0.23.4 `arviz.stats.diagnostics._ess` (the core of `arviz.ess`), checked
/// through [`effective_sample_size`] in `tests/reference/ou_estimate.rs`.
///
/// *Errors.* [`StatsError::InvalidArgument`] for no chains or chains of unequal length;
/// [`StatsError::TooFewSamples`] for fewer than 4 draws per chain; [`StatsError::NonFinite`];
/// [`StatsError::ZeroVariance`] when every value is equal.
///
/// *Cost.* O(MN log N) time, O(MN) memory.
pub fn effective_sample_size_chains(chains: &[&[f64]]) -> Result<EffectiveSampleSize, StatsError> {
    let n_chain = chains.len();
    if n_chain == 0 {
        return Err(StatsError::InvalidArgument("no chains".into()));
    }
    let n_draw = chains[0].len();
    if chains.iter().any(|c| c.len() != n_draw) {
        return Err(StatsError::InvalidArgument(
            "chains must have equal lengths".into(),
        ));
    }
    if n_draw < 4 {
        return Err(StatsError::TooFewSamples {
            test: "effective_sample_size (draws per chain)",
            needed: 4,
            got: n_draw,
        });
    }
    if chains.iter().any(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(StatsError::NonFinite);
    }
    let first = chains[0][0];
    if chains.iter().all(|c| c.iter().all(|&v| v == first)) {
        return Err(StatsError::ZeroVariance);
    }
    let nf = n_draw as f64;
    let acovs: Vec<Vec<f64>> = chains.iter().map(|c| autocov(c)).collect();
    let mean_acov = |t: usize| acovs.iter().map(|a| a[t]).sum::<f64>() / n_chain as f64;
    let mean_var = mean_acov(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if n_chain > 1 {
        let means: Vec<f64> = chains.iter().map(|c| c.iter().sum::<f64>() / nf).collect();
        let grand = means.iter().sum::<f64>() / n_chain as f64;
        var_plus += means.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (n_chain as f64 - 1.0);
    }
    if var_plus <= 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    if !var_plus.is_finite() {
        return Err(StatsError::Degenerate(
            "the variance of the series overflows f64".into(),
        ));
    }
    let rho = |t: usize| 1.0 - (mean_var - mean_acov(t)) / var_plus;

    // Geyer's initial positive sequence (indices as in Stan / ArviZ).
    let mut rho_hat = vec![0.0f64; n_draw];
    let mut rho_even = 1.0;
    rho_hat[0] = rho_even;
    let mut rho_odd = rho(1);
    rho_hat[1] = rho_odd;
    let mut t = 1usize;
    while t + 3 < n_draw && rho_even + rho_odd > 0.0 {
        rho_even = rho(t + 1);
        rho_odd = rho(t + 2);
        if rho_even + rho_odd >= 0.0 {
            rho_hat[t + 1] = rho_even;
            rho_hat[t + 2] = rho_odd;
        }
        t += 2;
    }
    // max_t = t − 2 ≥ −1; work with max_t + 1 = t − 1 ≥ 0.
    let last = t - 1;
    if rho_even > 0.0 {
        rho_hat[last] = rho_even;
    }
    // Geyer's initial monotone sequence.
    let mut s = 1usize;
    while s + 3 <= last {
        if rho_hat[s + 1] + rho_hat[s + 2] > rho_hat[s - 1] + rho_hat[s] {
            rho_hat[s + 1] = 0.5 * (rho_hat[s - 1] + rho_hat[s]);
            rho_hat[s + 2] = rho_hat[s + 1];
        }
        s += 2;
    }
    if rho_hat.iter().any(|r| r.is_nan()) {
        return Err(StatsError::Degenerate("autocorrelation is NaN".into()));
    }
    let n_total = (n_chain * n_draw) as f64;
    let tau = -1.0 + 2.0 * rho_hat[..last].iter().sum::<f64>() + rho_hat[last];
    let tau = tau.max(1.0 / n_total.log10());
    Ok(EffectiveSampleSize {
        ess: n_total / tau,
        tau,
        n: n_chain * n_draw,
        chains: n_chain,
        max_lag: last,
    })
}

/// Biased autocovariances γ̂_t = (1/n) Σ_{i < n−t} (x_i − x̄)(x_{i+t} − x̄), t = 0 … n−1, by FFT
/// of the zero-padded centred series (as ArviZ `autocov`). O(n log n).
fn autocov(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let m = (2 * n).next_power_of_two();
    let mut re = vec![0.0; m];
    let mut im = vec![0.0; m];
    for (r, v) in re.iter_mut().zip(x) {
        *r = v - mean;
    }
    fft(&mut re, &mut im, false);
    for (r, i) in re.iter_mut().zip(im.iter_mut()) {
        *r = *r * *r + *i * *i;
        *i = 0.0;
    }
    fft(&mut re, &mut im, true);
    re.truncate(n);
    let scale = 1.0 / (m as f64 * n as f64);
    re.iter_mut().for_each(|v| *v *= scale);
    re
}

/// In-place iterative radix-2 Cooley–Tukey FFT of length 2^p (unnormalised; `inverse` flips
/// the sign of the exponent). Twiddles are computed directly from sin/cos per index, not by
/// recurrence, to keep rounding at O(ε log n).
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two());
    if n < 2 {
        return;
    }
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let table: Vec<(f64, f64)> = (0..n / 2)
        .map(|j| {
            let (s, c) = (sign * 2.0 * std::f64::consts::PI * j as f64 / n as f64).sin_cos();
            (c, s)
        })
        .collect();
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let stride = n / len;
        for start in (0..n).step_by(len) {
            for j in 0..half {
                let (wr, wi) = table[j * stride];
                let (a, b) = (start + j, start + j + half);
                let xr = re[b] * wr - im[b] * wi;
                let xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
        }
        len *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_autocov_matches_direct_sum() {
        let x: Vec<f64> = (0..37)
            .map(|i| ((i * i) % 11) as f64 + 0.1 * i as f64)
            .collect();
        let n = x.len();
        let mean = x.iter().sum::<f64>() / n as f64;
        let fast = autocov(&x);
        for (t, f) in fast.iter().enumerate() {
            let direct: f64 = (0..n - t)
                .map(|i| (x[i] - mean) * (x[i + t] - mean))
                .sum::<f64>()
                / n as f64;
            assert!(
                (f - direct).abs() < 1e-12 * fast[0],
                "lag {t}: {f} vs {direct}"
            );
        }
    }
}
