"""The Threadmill admin views; `threadmill.admin` wires them into the admin site."""
