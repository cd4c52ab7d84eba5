"""LR schedulers against torch.optim.lr_scheduler: the lr (and momentum) at every step."""

import warnings

import numpy as np
import pytest

import ember

STEPS = 30


def _sgd(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    v = lib.tensor([3.0], requires_grad=True)
    return lib.optim.SGD([{"params": [w]}, {"params": [v], "lr": 0.05}], lr=0.1, momentum=0.9)


def _adam(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    v = lib.tensor([3.0], requires_grad=True)
    return lib.optim.Adam([{"params": [w]}, {"params": [v], "lr": 0.02}], lr=0.01)


def _lr(lib):
    return lib.optim.lr_scheduler


CASES = {
    "StepLR": (_sgd, lambda lib, o: _lr(lib).StepLR(o, step_size=3, gamma=0.5)),
    "MultiStepLR": (
        _sgd,
        lambda lib, o: _lr(lib).MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    ),
    "ExponentialLR": (_sgd, lambda lib, o: _lr(lib).ExponentialLR(o, gamma=0.9)),
    "CosineAnnealingLR": (
        _sgd,
        lambda lib, o: _lr(lib).CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    ),
    "CosineAnnealingWarmRestarts": (
        _sgd,
        lambda lib, o: _lr(lib).CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=0.01),
    ),
    "CosineAnnealingWarmRestarts-T_mult1": (
        _adam,
        lambda lib, o: _lr(lib).CosineAnnealingWarmRestarts(o, T_0=5),
    ),
    "OneCycleLR-cos": (
        _sgd,
        lambda lib, o: _lr(lib).OneCycleLR(o, max_lr=0.5, total_steps=STEPS + 1),
    ),
    "OneCycleLR-linear-three-phase-adam": (
        _adam,
        lambda lib, o: _lr(lib).OneCycleLR(
            o,
            max_lr=[0.5, 0.2],
            epochs=4,
            steps_per_epoch=8,
            anneal_strategy="linear",
            three_phase=True,
            pct_start=0.25,
        ),
    ),
    "OneCycleLR-no-momentum": (
        _adam,
        lambda lib, o: _lr(lib).OneCycleLR(
            o, max_lr=0.3, total_steps=40, cycle_momentum=False, div_factor=10.0
        ),
    ),
    "LinearLR": (
        _sgd,
        lambda lib, o: _lr(lib).LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6),
    ),
    "ConstantLR": (_sgd, lambda lib, o: _lr(lib).ConstantLR(o, factor=0.5, total_iters=4)),
    "LambdaLR": (_sgd, lambda lib, o: _lr(lib).LambdaLR(o, lambda e: 0.95**e)),
    "LambdaLR-per-group": (
        _sgd,
        lambda lib, o: _lr(lib).LambdaLR(o, [lambda e: 0.9**e, lambda e: 1.0 / (e + 1)]),
    ),
    "MultiplicativeLR": (_sgd, lambda lib, o: _lr(lib).MultiplicativeLR(o, lambda e: 0.97)),
    "PolynomialLR": (
        _sgd,
        lambda lib, o: _lr(lib).PolynomialLR(o, total_iters=10, power=2.0),
    ),
    "CyclicLR-triangular2": (
        _sgd,
        lambda lib, o: _lr(lib).CyclicLR(
            o, base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular2"
        ),
    ),
    "CyclicLR-exp_range-adam": (
        _adam,
        lambda lib, o: _lr(lib).CyclicLR(
            o,
            base_lr=[0.01, 0.02],
            max_lr=0.1,
            step_size_up=3,
            step_size_down=5,
            mode="exp_range",
            gamma=0.95,
        ),
    ),
    "SequentialLR": (
        _sgd,
        lambda lib, o: _lr(lib).SequentialLR(
            o,
            [
                _lr(lib).LinearLR(o, start_factor=0.1, total_iters=3),
                _lr(lib).ExponentialLR(o, gamma=0.9),
                _lr(lib).StepLR(o, step_size=4, gamma=0.5),
            ],
            milestones=[3, 12],
        ),
    ),
    "ChainedScheduler": (
        _sgd,
        lambda lib, o: _lr(lib).ChainedScheduler(
            [
                _lr(lib).ConstantLR(o, factor=0.5, total_iters=3),
                _lr(lib).ExponentialLR(o, gamma=0.9),
            ]
        ),
    ),
}


def _schedule(lib, make_opt, make_sched, steps=STEPS):
    opt = make_opt(lib)
    sched = make_sched(lib, opt)
    lrs, momenta = [sched.get_last_lr()], []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(list(sched.get_last_lr()))
        momenta.append([g.get("momentum", g.get("betas")) for g in opt.param_groups])
    return lrs, momenta, opt, sched


@pytest.mark.parametrize("case", list(CASES))
def test_schedule_matches_torch(case, torch):
    make_opt, make_sched = CASES[case]
    ours, our_m, opt, _ = _schedule(ember, make_opt, make_sched)
    theirs, their_m, topt, _ = _schedule(torch, make_opt, make_sched)
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        np.array(our_m, dtype=float), np.array(their_m, dtype=float), rtol=1e-12
    )
    assert len({tuple(x) for x in ours}) >= 2  # the schedule did change the lr
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(
        [g["lr"] for g in topt.param_groups], rel=1e-12
    )
    assert sorted(opt.param_groups[0]) == sorted(topt.param_groups[0])


@pytest.mark.parametrize("case", list(CASES))
def test_state_dict_resumes_the_schedule(case):
    make_opt, make_sched = CASES[case]
    full, _, _, _ = _schedule(ember, make_opt, make_sched)
    opt = make_opt(ember)
    sched = make_sched(ember, opt)
    for _ in range(11):
        opt.step()
        sched.step()
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in saved_sched
    opt2 = make_opt(ember)
    sched2 = make_sched(ember, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    resumed = [sched2.get_last_lr()]
    for _ in range(STEPS - 11):
        opt2.step()
        sched2.step()
        resumed.append(list(sched2.get_last_lr()))
    np.testing.assert_allclose(np.array(resumed), np.array(full[11:]), rtol=1e-12)


def test_state_dict_keys_match_torch(torch):
    for name in ["StepLR", "CosineAnnealingLR", "OneCycleLR-cos", "LambdaLR"]:
        make_opt, make_sched = CASES[name]
        _, _, _, ours = _schedule(ember, make_opt, make_sched, steps=3)
        _, _, _, theirs = _schedule(torch, make_opt, make_sched, steps=3)
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict()), name


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.899, 0.8, 0.85, 0.86, 0.87, 0.88, 0.7]
PLATEAU_CASES = [
    dict(patience=2),
    dict(patience=1, cooldown=2, factor=0.5),
    dict(mode="max", patience=1, threshold=0.05),
    dict(patience=0, threshold_mode="abs", threshold=0.02, min_lr=0.04),
    dict(patience=0, factor=0.5, min_lr=[0.07, 0.0], eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=str)
def test_reduce_lr_on_plateau_matches_torch(kwargs, torch):
    def run(lib):
        opt = _sgd(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        out = []
        for metric in PLATEAU_METRICS * 2:
            opt.step()
            sched.step(metric)
            out.append(list(sched.get_last_lr()))
        return out, sched

    ours, sched = run(ember)
    theirs, tsched = run(torch)
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-12)
    assert ours[0] != ours[-1]
    assert sched.num_bad_epochs == tsched.num_bad_epochs and sched.best == tsched.best


def test_reduce_lr_on_plateau_errors(torch):
    opt = _sgd(ember)
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        ember.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        ember.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        ember.optim.lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1])


def test_scheduler_errors_match_torch(torch):
    for lib in (ember, torch):
        opt = _sgd(lib)
        sched = lib.optim.lr_scheduler
        with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
            sched.CosineAnnealingWarmRestarts(opt, T_0=0)
        with pytest.raises(ValueError, match="You must define either total_steps OR"):
            sched.OneCycleLR(opt, max_lr=0.1)
        with pytest.raises(ValueError, match="Starting multiplicative factor expected"):
            sched.LinearLR(opt, start_factor=0)
        with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
            sched.LambdaLR(opt, [lambda e: 1.0])
        with pytest.raises(ValueError, match="max_lr must have the same length"):
            sched.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)
        with pytest.raises(TypeError, match="is not an Optimizer"):
            sched.StepLR(object(), step_size=2)
        one = sched.OneCycleLR(opt, max_lr=0.1, total_steps=2)
        opt.step()
        one.step()
        one.step()
        with pytest.raises(ValueError, match="Tried to step 3 times"):
            one.step()


def test_warns_when_scheduler_steps_before_optimizer():
    opt = _sgd(ember)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt = _sgd(ember)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


def test_resuming_needs_initial_lr():
    opt = _sgd(ember)
    with pytest.raises(KeyError, match="initial_lr"):
        ember.optim.lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingLR", "LinearLR"])
def test_explicit_epoch_uses_the_closed_form_like_torch(name, torch):
    def run(lib):
        make_opt, make_sched = CASES[name]
        opt = make_opt(lib)
        sched = make_sched(lib, opt)
        out = []
        for epoch in [1, 2, 6, 3, 9]:
            opt.step()
            with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
                sched.step(epoch)
            out.append(list(sched.get_last_lr()))
        return out

    np.testing.assert_allclose(np.array(run(ember)), np.array(run(torch)), rtol=1e-12)


@pytest.mark.parametrize(
    "case", ["MultiStepLR", "OneCycleLR-cos", "LambdaLR", "CyclicLR-triangular2"]
)
def test_scheduler_state_dict_survives_ember_save(case, tmp_path):
    make_opt, make_sched = CASES[case]
    full, _, _, _ = _schedule(ember, make_opt, make_sched)
    opt = make_opt(ember)
    sched = make_sched(ember, opt)
    for _ in range(5):
        opt.step()
        sched.step()
    ember.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "s")
    saved = ember.load(tmp_path / "s")
    opt2 = make_opt(ember)
    sched2 = make_sched(ember, opt2)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    resumed = [sched2.get_last_lr()]
    for _ in range(STEPS - 5):
        opt2.step()
        sched2.step()
        resumed.append(list(sched2.get_last_lr()))
    np.testing.assert_allclose(np.array(resumed), np.array(full[5:]), rtol=1e-12)


def test_plateau_state_dict_survives_ember_save(tmp_path):
    opt = _sgd(ember)
    sched = ember.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    for metric in PLATEAU_METRICS[:4]:
        sched.step(metric)
    ember.save(sched.state_dict(), tmp_path / "p")
    sched2 = ember.optim.lr_scheduler.ReduceLROnPlateau(_sgd(ember), patience=1)
    sched2.load_state_dict(ember.load(tmp_path / "p"))
    assert sched2.best == sched.best and sched2.num_bad_epochs == sched.num_bad_epochs
    assert sched2.mode_worse == float("inf")
