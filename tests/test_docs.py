"""The documentation and the code agree."""

from pathlib import Path

from threadmill.options import OPTION_SPECS, options_table

ROOT = Path(__file__).resolve().parent.parent


def test_options_tables_match_the_code():
    table = options_table()
    for doc in ("README.md", "docs/backend.md"):
        assert table in (ROOT / doc).read_text(), f"{doc}: regenerate the options table"
    assert len(OPTION_SPECS) == table.count("\n") - 1


def test_every_cli_flag_is_documented():
    from django.core.management import load_command_class

    command = load_command_class("threadmill", "threadmill")
    parser = command.create_parser("manage.py", "threadmill")
    readme = (ROOT / "README.md").read_text()
    flags = [
        a.option_strings[0]
        for a in parser._actions
        if a.option_strings[0].startswith("--")
        and a.dest
        in {
            "backend",
            "queues",
            "processes",
            "threads",
            "max_tasks",
            "max_tasks_jitter",
            "exit_empty",
            "graceful_timeout",
            "log_level",
            "max_memory",
        }
    ]
    assert len(flags) == 10
    for flag in flags:
        assert f"`{flag}`" in readme, flag


def test_every_dashboard_flag_is_documented():
    from django.core.management import load_command_class

    command = load_command_class("threadmill", "threadmill_top")
    parser = command.create_parser("manage.py", "threadmill_top")
    own = {"backend", "interval", "once", "json"}
    flags = [a.option_strings[0] for a in parser._actions if a.dest in own]
    assert len(flags) == len(own)
    page = (ROOT / "docs/dashboard.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for flag in flags:
        assert f"| `{flag}` |" in page, flag
        assert flag in readme, flag


def test_the_readme_shows_the_current_dashboard_capture():
    capture = (ROOT / "docs/images/dashboard.txt").read_text()
    assert capture.strip() in (ROOT / "README.md").read_text(), "paste the new capture"
