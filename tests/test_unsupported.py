"""Names ember leaves out on purpose say so, and what to use, instead of a bare AttributeError."""

import pytest

import ember
from ember._unsupported import ADVICE, UnsupportedError


@pytest.mark.parametrize(
    ("namespace", "name"), [(ns, name) for ns, names in ADVICE.items() for name in names]
)
def test_each_refused_name_explains_itself(namespace, name):
    module = {"ember": ember, "ember.nn": ember.nn}[namespace]
    with pytest.raises(UnsupportedError, match=rf"torch\S*\.{name} is not supported: ember"):
        getattr(module, name)
    assert not hasattr(module, name)
    assert getattr(module, name, "default") == "default"


def test_an_unknown_name_is_a_plain_attribute_error():
    with pytest.raises(AttributeError, match="module 'ember' has no attribute 'no_such_name'"):
        ember.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        from ember import no_such_name  # noqa: F401


def test_refused_names_are_not_on_the_ember_namespace_for_real():
    for namespace, names in ADVICE.items():
        module = {"ember": ember, "ember.nn": ember.nn}[namespace]
        assert not set(names) & set(vars(module)), "a refused name now exists: drop its advice"
