"""Small NumPy models with exact gradients, Hessian-vector products and Hessians."""

import numpy as np


class SoftmaxRegression:
    """Multinomial logistic regression with L2 penalty: l_i(W) = CE(softmax(W x_i), y_i)
    + (reg/2)‖W‖², W of shape (c, p), θ = W.ravel() (C order), d = c·p."""

    def __init__(self, n=400, p=49, c=10, reg=1e-2, seed=0):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, p)) / np.sqrt(p)
        w_true = rng.standard_normal((c, p)) * 2.0
        logits = self.x @ w_true.T
        self.y = np.array([rng.choice(c, p=_softmax(row)) for row in logits])
        self.n, self.p, self.c, self.reg = n, p, c, reg
        self.d = c * p

    def probs(self, theta):
        return _softmax_rows(self.x @ theta.reshape(self.c, self.p).T)

    def per_example_grads(self, theta, idx=None):
        idx = np.arange(self.n) if idx is None else idx
        pr = self.probs(theta)[idx]
        pr[np.arange(len(idx)), self.y[idx]] -= 1.0
        g = pr[:, :, None] * self.x[idx][:, None, :]  # (n, c, p)
        return g.reshape(len(idx), -1) + self.reg * theta

    def losses(self, theta):
        pr = self.probs(theta)
        w = theta @ theta
        return -np.log(pr[np.arange(self.n), self.y]) + 0.5 * self.reg * w

    def hvp(self, theta):
        pr = self.probs(theta)

        def apply(v):
            vx = self.x @ v.reshape(self.c, self.p).T  # (n, c)
            jv = pr * vx - pr * (pr * vx).sum(axis=1, keepdims=True)
            return (jv.T @ self.x).ravel() / self.n + self.reg * v

        return apply

    def hessian(self, theta):
        pr = self.probs(theta)
        h = np.zeros((self.d, self.d))
        for i in range(self.n):
            a = np.diag(pr[i]) - np.outer(pr[i], pr[i])
            h += np.kron(a, np.outer(self.x[i], self.x[i]))
        return h / self.n + self.reg * np.eye(self.d)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
