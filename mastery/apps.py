from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MasteryConfig(AppConfig):
    name = "mastery"
    verbose_name = "Mastery core: schools, people, learning framework, policy"

    def ready(self):
        from mastery import rls

        # Row-level security on every tenant table after each migrate (PostgreSQL only), so a
        # table added later is walled without a migration of its own; sent for this app once,
        # after every app has migrated.
        post_migrate.connect(rls.after_migrate, sender=self, dispatch_uid="mastery.rls")
