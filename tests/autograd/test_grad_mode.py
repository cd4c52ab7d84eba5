"""Grad-mode managers as PyTorch has them: bare decorators, set_grad_enabled in all its forms,
and generators and coroutines that hold the mode only while their own code runs."""

from __future__ import annotations

import asyncio

import pytest

import ember


def _records():
    return (ember.ones(1, requires_grad=True) * 2).requires_grad


@pytest.mark.parametrize(
    "manager, inside",
    [(ember.no_grad, False), (ember.enable_grad, True), (ember.inference_mode, False)],
)
def test_bare_and_called_decorators(manager, inside):
    @manager
    def bare():
        return _records()

    @manager()
    def called():
        return _records()

    with ember.set_grad_enabled(not inside):
        assert bare() is inside and called() is inside
        assert ember.is_grad_enabled() is (not inside)
    assert bare.__name__ == "bare"


def test_set_grad_enabled_as_function_context_and_decorator():
    ember.set_grad_enabled(False)
    try:
        assert not ember.is_grad_enabled()
    finally:
        ember.set_grad_enabled(True)
    with ember.set_grad_enabled(False):
        assert not _records()
    assert ember.is_grad_enabled()

    @ember.set_grad_enabled(False)
    def quiet():
        return ember.is_grad_enabled()

    assert ember.is_grad_enabled()  # making the decorator changed nothing
    assert quiet() is False and ember.is_grad_enabled()


def test_a_generator_holds_the_mode_only_between_its_own_yields():
    @ember.no_grad()
    def steps():
        seen = yield ember.is_grad_enabled()
        yield (seen, ember.is_grad_enabled())

    gen = steps()
    assert next(gen) is False
    assert ember.is_grad_enabled()  # the caller's mode while the generator is paused
    assert gen.send("hi") == ("hi", False)
    with pytest.raises(StopIteration):
        next(gen)


def test_a_generator_sees_exceptions_and_close_in_its_mode():
    seen = []

    @ember.no_grad()
    def steps():
        try:
            yield 1
        except ValueError:
            seen.append(("thrown", ember.is_grad_enabled()))
            yield 2
        finally:
            seen.append(("closed", ember.is_grad_enabled()))

    gen = steps()
    next(gen)
    assert gen.throw(ValueError) == 2
    gen.close()
    assert seen == [("thrown", False), ("closed", False)] and ember.is_grad_enabled()


def test_a_coroutine_holds_the_mode_only_while_it_runs():
    @ember.no_grad()
    async def work():
        before = ember.is_grad_enabled()
        await asyncio.sleep(0)
        return before, ember.is_grad_enabled()

    async def main():
        task = asyncio.ensure_future(work())
        await asyncio.sleep(0)
        between = ember.is_grad_enabled()  # the task is paused at its await
        return await task, between

    assert asyncio.run(main()) == ((False, False), True)


def test_inference_mode_is_reported():
    assert not ember.is_inference_mode_enabled()
    with ember.inference_mode():
        assert ember.is_inference_mode_enabled() and not ember.is_grad_enabled()
        with ember.inference_mode(False):
            assert not ember.is_inference_mode_enabled() and ember.is_grad_enabled()
    assert not ember.is_inference_mode_enabled() and ember.is_grad_enabled()


def test_matches_pytorch(torch):
    for lib in (ember, torch):

        @lib.no_grad
        def gen(lib=lib):
            yield lib.is_grad_enabled()

        g = gen()
        assert next(g) is False and lib.is_grad_enabled()


def test_decorating_a_class_is_deprecated_but_runs_its_construction_in_the_mode(lib):
    made = []

    with pytest.warns(FutureWarning, match="Decorating classes is deprecated"):

        @lib.no_grad()
        class Quiet:
            def __init__(self):
                made.append(lib.is_grad_enabled())

            def method(self):
                return lib.is_grad_enabled()

    assert Quiet().method() is True  # methods are not wrapped
    assert made == [False]


@pytest.mark.parametrize("spelling", ["bare", "keyword", "called", "called keyword"])
def test_inference_mode_decorates_a_function_in_each_spelling(lib, spelling):
    def square(x):
        return x * x

    decorate = {
        "bare": lambda: lib.inference_mode(square),
        "keyword": lambda: lib.inference_mode(mode=square),
        "called": lambda: lib.inference_mode(True)(square),
        "called keyword": lambda: lib.inference_mode(mode=True)(square),
    }[spelling]
    out = decorate()(lib.ones(2, requires_grad=True))
    assert lib.is_inference(out) and not out.requires_grad
    off = lib.inference_mode(mode=False)(square)(lib.ones(2, requires_grad=True))
    assert not lib.is_inference(off) and off.requires_grad
