"""One source per service setting: the hash, the container spec and compose read SETTINGS."""

import dataclasses

import pytest

from devenv.compose import compose_document
from devenv.profile import ProfileStore
from devenv.profile.model import Healthcheck, Port, Service, SourceMount, VolumeMount
from devenv.render import Renderer, ServicePlan
from devenv.settings import IMAGE_FIELDS, OTHER_FIELDS, SETTINGS, classified_fields
from devenv.spec import container_spec


def test_every_service_field_is_declared_somewhere():
    fields = {f.name for f in dataclasses.fields(Service)}
    missing = fields - classified_fields()
    assert not missing, (f"Service fields {sorted(missing)} are in no list of devenv.settings: "
                         "add a Setting (it decides recreation) or name them in IMAGE_FIELDS / OTHER_FIELDS")
    unknown = classified_fields() - fields
    assert not unknown, f"devenv.settings names fields the model does not have: {sorted(unknown)}"


def test_no_field_is_both_image_and_runtime():
    runtime = {f for s in SETTINGS for f in s.fields}
    assert not runtime & set(IMAGE_FIELDS)
    assert not runtime & set(OTHER_FIELDS)


# a changed value for each runtime field, to prove the hash, the spec and compose all see it
CHANGES = {
    "command": ("sleep", "1"),
    "user": "nobody",
    "environment": (("NEW", "value"),),
    "ports": (Port(container=81, host=18081),),
    "volumes": (VolumeMount("other", "/srv/other"),),
    "healthcheck": Healthcheck(test=("CMD", "false"), interval=2.0),
    "mounts": (SourceMount("/srv/app", "app"),),
}


@pytest.fixture
def stack(project):
    s = ProfileStore.locate(project / "profiles")
    return Renderer(s.images_dir).render(s.load("parent"))


def test_change_table_covers_every_runtime_field():
    assert set(CHANGES) == {f for s in SETTINGS for f in s.fields}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_a_changed_setting_reaches_hash_spec_and_compose(stack, field):
    sp = stack.services["app"]
    changed = ServicePlan(dataclasses.replace(sp.service, **{field: CHANGES[field]}), sp.image, sp.dataset)
    assert changed.config_hash != sp.config_hash
    assert container_spec(stack, changed) != container_spec(stack, sp)
    other = dataclasses.replace(stack, services={**stack.services, "app": changed})
    assert compose_document(other)["services"]["app"] != compose_document(stack)["services"]["app"]


def test_dataset_change_recreates_only_the_database_service(stack):
    sp = stack.services["app"]
    assert ServicePlan(sp.service, sp.image, "other-dataset").config_hash != sp.config_hash


def test_image_fields_do_not_touch_the_settings_hash_except_through_the_image(stack):
    sp = stack.services["app"]
    changed = ServicePlan(dataclasses.replace(sp.service, description="new words"), sp.image, sp.dataset)
    assert changed.config_hash == sp.config_hash
