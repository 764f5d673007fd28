"""The customer portal and staff backoffice of a cloud-licence reseller: one package per room (see README's map).

The application is made by `portal.app.create_app`; importing a room loads that room and what it uses, never
the whole application.
"""
