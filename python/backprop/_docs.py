"""The parameters' documentation the two estimators share."""

_DOC_PARAMS = """
    Parameters are scikit-learn's, with its defaults, where the engine has
    the feature; a value it does not have raises ``ValueError`` at ``fit``.

    hidden_layer_sizes : tuple of int, default (100,)
    activation : {'logistic', 'tanh', 'relu'}, default 'relu'
        'identity' is not supported (the engine's hidden layers are
        non-linear).
    solver : {'adam', 'sgd', 'adamw'}, default 'adam'
        'lbfgs' is not supported. 'adamw' is AdamW (decoupled decay).
    alpha : float, default 1e-4
        L2 penalty, as scikit-learn scales it: its gradient term is
        ``alpha * W / batch_rows``, so the engine's weight decay is
        ``alpha / batch_size`` (PyTorch's ``weight_decay``). Unlike
        scikit-learn's, it decays the biases too. With 'adamw' it is the
        decoupled decay ``lr * alpha / batch_size`` per step. With
        ``sample_weight``, as in scikit-learn, a step's decay is
        ``alpha / Σw`` of its batch's weights.
    batch_size : int or 'auto', default 'auto' (``min(200, n_samples)``)
    learning_rate : {'constant'}, default 'constant'
        'invscaling' and 'adaptive' are not supported; see ``lr_schedule``.
    learning_rate_init : float, default 1e-3
    power_t : float, default 0.5
        Only for 'invscaling' (not supported), as in scikit-learn.
    max_iter : int, default 200
        Epochs.
    shuffle : bool, default True
    random_state : int, RandomState or None
        An int is the seed of ``backprop train --seed``: the same data and
        settings give the same weights, byte for byte.
    tol, n_iter_no_change : stop when the training loss (or, with early
        stopping, the validation score) has not improved by ``tol`` for
        more than ``n_iter_no_change`` epochs, as scikit-learn does.
    verbose : bool, default False
        One line an epoch on stdout, as scikit-learn's.
    warm_start : bool, default False
    momentum : float, default 0.9; nesterovs_momentum : bool, default True
        For 'sgd' (scikit-learn's and PyTorch's momentum are the same rule).
    early_stopping : bool, default False
    validation_fraction : float, default 0.1
        Held out as ``backprop train --val-split`` holds it out (seeded by
        ``random_state``), scored after each epoch; the best epoch's weights
        are kept.
    beta_1, beta_2, epsilon : Adam's, defaults 0.9, 0.999, 1e-8
    max_fun : int, default 15000
        Only for 'lbfgs' (not supported), as in scikit-learn.
    n_threads : int or None, default None
        The engine's threads for training and prediction, 1 to 1024. None:
        the ``OMP_NUM_THREADS`` share of the cores when it is set (as joblib
        sets it for its workers, so ``GridSearchCV(n_jobs=k)`` does not
        oversubscribe), else every core. The results do not depend on it.
    clip_norm : float or None, default None
        Clip the global gradient norm (PyTorch's ``clip_grad_norm_``).
    lr_schedule : {'constant', 'cosine'}, default 'constant'
        'cosine' anneals the rate to 0 over ``max_iter`` epochs.
    precision : {'fp32', 'bf16'}, default 'fp32'
        The products' operands. 'bf16' rounds both operands of every
        layer's products to bfloat16 and sums in float32, as
        ``torch.autocast("cpu", dtype=torch.bfloat16)`` does; the weights,
        optimizer state and activations stay float32. About 1.6-1.9 times
        as fast on CPUs with AVX512-BF16 (Zen 4 and later, Sapphire
        Rapids); elsewhere emulated: bf16's results at float32's speed.
        Training and ``predict`` use it.
"""
