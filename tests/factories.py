"""Builders for tests: valid objects with unique natural keys by default."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from doctors.models import Department, Doctor, Membership, Specialty

# Every user built by UserFactory can log in with this password.
USER_PASSWORD = "correct horse battery staple"


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    code = factory.Sequence(lambda n: f"D{n:03d}")
    name = factory.Sequence(lambda n: f"Department {n:03d}")
    description = ""


class DoctorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Doctor

    license_number = factory.Sequence(lambda n: f"LIC-{n:05d}")
    first_name = factory.Sequence(lambda n: f"Jane{n}")
    last_name = "Roe"
    email = factory.LazyAttribute(lambda d: f"{d.license_number.lower()}@clinic.test")
    specialty = Specialty.CARDIOLOGY


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    doctor = factory.SubFactory(DoctorFactory)
    department = factory.SubFactory(DepartmentFactory)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password(USER_PASSWORD)

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            for name in extracted:
                self.groups.add(Group.objects.get(name=name))
