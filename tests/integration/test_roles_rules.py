"""Roles, row rules and per-role columns (issue 6) against real PostgreSQL and the real proxy:
viewers cannot write, editors can (inside their rules), admins see the email the policy unmasks
for them, a row rule by region limits rows exactly and denies when the attribute is missing,
hidden columns are gone from *, information_schema and psql's \\d, writes to them are refused,
UPDATE cannot move a row out of the rule; the policy is checked against the live schema at start
and on reload."""
import re
import time

import psycopg2
import pytest

import harness

PASSWORD = "alice-secret"  # every user below reuses alice's SCRAM verifier
VERIFIER = re.search(r'name: alice.*?scram: "([^"]+)"', harness.DEFAULT_POLICY.read_text(),
                     re.S).group(1)

SCHEMA = """
CREATE TABLE public.projects (
  id        serial PRIMARY KEY,
  tenant_id text NOT NULL,
  name      text NOT NULL,
  region    text,
  team      text,
  email     text,
  budget    integer,
  secret    text
);
INSERT INTO public.projects (tenant_id, name, region, team, email, budget, secret) VALUES
  ('acme',   'Apollo', 'eu',   'red',  'apollo@acme.example', 100, 's-apollo'),
  ('acme',   'Boreas', 'us',   'blue', 'boreas@acme.example', 200, 's-boreas'),
  ('acme',   'Ceres',  'eu',   'blue', 'ceres@acme.example',  300, 's-ceres'),
  ('acme',   'Dione',  'apac', 'red',  'dione@acme.example',  400, 's-dione'),
  ('globex', 'Eris',   'eu',   'red',  'eris@globex.example', 500, 's-eris');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.projects TO {role};
GRANT USAGE ON SEQUENCE public.projects_id_seq TO {role};
"""

PROJECTS = """
protected_tables:
  - table: public.projects
    tenant_column: tenant_id
    columns:
      - id
      - tenant_id
      - name
      - region
      - team
      - {{ name: email, mask: email, roles: {{ admin: allow }} }}
      - {{ name: budget, roles: {{ viewer: hide }} }}
      - {{ name: secret, mask: redact, roles: {{ viewer: hide, editor: hide }} }}
    rules:
      - roles: [viewer, editor]
        where: "region = principal.attributes.region"
      - roles: [admin]
        where: "team = ANY(principal.groups) OR region = ANY(principal.attributes.regions)"
"""


def policy_text(projects=PROJECTS):
    user = "  - {{name: {}, tenant: {}, role: {}, scram: \"" + VERIFIER + "\"{}}}\n"
    return ("tenants: [{id: acme}, {id: globex}]\n"
            "users:\n" +
            user.format("vera", "acme", "viewer", ", attributes: {region: eu}") +
            user.format("nora", "acme", "viewer", "") +
            user.format("ed", "acme", "editor", ", attributes: {region: eu}") +
            user.format("ada", "acme", "admin", ", groups: [red], attributes: {regions: [us]}") +
            user.format("gil", "globex", "viewer", ", attributes: {region: eu}") +
            projects.format())


@pytest.fixture(scope="module")
def projects_table(pg):
    with pg.superuser("app") as c:
        c.autocommit = True
        c.cursor().execute(SCHEMA.replace("{role}", harness.SERVICE_ROLE))
    yield
    with pg.superuser("app") as c:
        c.autocommit = True
        c.cursor().execute("DROP TABLE public.projects")


@pytest.fixture(scope="module")
def rules_proxy(pg, projects_table, tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "policy.yaml"
    path.write_text(policy_text())
    px = harness.Proxy(pg, policy=path).start()
    yield px
    px.stop()


@pytest.fixture
def as_user(rules_proxy):
    conns = []

    def connect(user):
        conn = rules_proxy.connect(user, PASSWORD)
        conns.append(conn)
        return conn

    yield connect
    for conn in conns:
        conn.close()


def rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else cur.rowcount


def refused(conn, sql, sqlstate="42501"):
    with pytest.raises(psycopg2.Error) as info:
        rows(conn, sql)
    assert info.value.pgcode == sqlstate, f"{sql}: {info.value.pgcode} {info.value}"
    return str(info.value)


def truth(pg):
    return pg.query("SELECT id, tenant_id, name, region, team, email, budget, secret "
                    "FROM public.projects ORDER BY id")


def test_row_rule_by_region_limits_rows_exactly(as_user, pg):
    expected = [r[:3] for r in pg.query("SELECT id, name, region FROM public.projects "
                                        "WHERE tenant_id = 'acme' AND region = 'eu' ORDER BY id")]
    assert expected == [(1, "Apollo", "eu"), (3, "Ceres", "eu")]
    vera = as_user("vera")
    assert rows(vera, "SELECT id, name, region FROM projects ORDER BY id") == expected
    # Predicates, aggregates and subqueries only ever see the rule's rows.
    assert rows(vera, "SELECT count(*), sum(id) FROM projects") == [(2, 4)]
    assert rows(vera, "SELECT name FROM projects WHERE region = 'us'") == []
    assert rows(vera, "SELECT (SELECT count(*) FROM projects p2 WHERE p2.team = p.team) "
                      "FROM projects p ORDER BY p.id") == [(1,), (1,)]
    # Same region, other tenant: globex's viewer sees only globex's eu row.
    assert rows(as_user("gil"), "SELECT id, name FROM projects") == [(5, "Eris")]


def test_missing_attribute_denies(as_user):
    nora = as_user("nora")  # a viewer without the region attribute the rule names
    assert rows(nora, "SELECT id FROM projects") == []
    assert rows(nora, "SELECT count(*) FROM projects") == [(0,)]


def test_admin_rule_with_groups_and_list_attribute_and_unmasked_email(as_user):
    ada = as_user("ada")  # team red, or region us
    assert rows(ada, "SELECT id, email FROM projects ORDER BY id") == [
        (1, "apollo@acme.example"), (2, "boreas@acme.example"), (4, "dione@acme.example")]
    # secret is masked for admin too (the policy allows only email).
    assert rows(ada, "SELECT secret FROM projects WHERE id = 1") == [("***",)]
    # An editor sees the email masked.
    assert rows(as_user("ed"), "SELECT id, email FROM projects ORDER BY id") == [
        (1, "a***@acme.example"), (3, "c***@acme.example")]


def test_viewer_cannot_write(as_user, pg):
    before = truth(pg)
    vera = as_user("vera")
    for sql, kind in (("INSERT INTO projects (name, region) VALUES ('x', 'eu')", "INSERT"),
                      ("UPDATE projects SET name = 'x' WHERE id = 1", "UPDATE"),
                      ("DELETE FROM projects WHERE id = 1", "DELETE"),
                      ("WITH d AS (DELETE FROM projects RETURNING id) SELECT count(*) FROM d",
                       "DELETE")):
        message = refused(vera, sql)
        assert f"{kind} is not allowed for role 'viewer'" in message, message
    assert truth(pg) == before
    assert rows(vera, "SELECT count(*) FROM projects") == [(2,)]  # session still usable


def test_editor_writes_inside_its_rule(as_user, pg):
    ed = as_user("ed")
    try:
        assert rows(ed, "INSERT INTO projects (name, region, team) VALUES ('Nova', 'eu', 'red') "
                        "RETURNING tenant_id, name, region, email") == [("acme", "Nova", "eu", None)]
        assert rows(ed, "UPDATE projects SET name = 'Nova2', budget = 7 WHERE name = 'Nova'") == 1
        assert pg.query("SELECT tenant_id, region, budget FROM public.projects "
                        "WHERE name = 'Nova2'") == [("acme", "eu", 7)]
        # Rows outside the rule are out of reach for UPDATE and DELETE: nothing happens.
        assert rows(ed, "UPDATE projects SET name = 'hijacked' WHERE id = 2") == 0
        assert rows(ed, "DELETE FROM projects WHERE id IN (2, 4, 5)") == 0
        assert pg.query("SELECT name FROM public.projects WHERE id IN (2, 4, 5) ORDER BY id") == [
            ("Boreas",), ("Dione",), ("Eris",)]
        assert rows(ed, "DELETE FROM projects WHERE name = 'Nova2'") == 1
        assert pg.query("SELECT count(*) FROM public.projects WHERE name LIKE 'Nova%'") == [(0,)]
    finally:
        pg.query("DELETE FROM public.projects WHERE name LIKE 'Nova%'")


def test_writes_cannot_leave_the_rule(as_user, pg):
    before = truth(pg)
    ed = as_user("ed")
    message = refused(ed, "UPDATE projects SET region = 'us' WHERE id = 1")
    assert "could write a row outside the row rule" in message, message
    refused(ed, "UPDATE projects SET region = team WHERE id = 1")
    refused(ed, "INSERT INTO projects (name, region) VALUES ('Out', 'us')")
    refused(ed, "INSERT INTO projects (name) VALUES ('NoRegion')")
    refused(ed, "INSERT INTO projects (name, region) SELECT name, 'eu' FROM projects")
    refused(ed, "INSERT INTO projects (id, name, region) VALUES (1, 'x', 'eu') "
                "ON CONFLICT (id) DO UPDATE SET region = 'us'")
    assert truth(pg) == before
    # Keeping the row inside the rule is fine.
    assert rows(ed, "UPDATE projects SET region = 'eu' WHERE id = 1") == 1
    assert truth(pg) == before


def test_hidden_columns_vanish_from_star_catalogs_and_describe(as_user, rules_proxy):
    vera = as_user("vera")
    with vera.cursor() as cur:
        cur.execute("SELECT * FROM projects ORDER BY id")
        assert [d.name for d in cur.description] == ["id", "tenant_id", "name", "region", "team",
                                                    "email"]
    refused(vera, "SELECT budget FROM projects", "42703")
    catalog = ("SELECT column_name FROM information_schema.columns "
               "WHERE table_name = 'projects' ORDER BY ordinal_position")
    assert [r[0] for r in rows(vera, catalog)] == ["id", "tenant_id", "name", "region", "team",
                                                  "email"]
    assert [r[0] for r in rows(as_user("ed"), catalog)] == ["id", "tenant_id", "name", "region",
                                                           "team", "email", "budget"]
    assert [r[0] for r in rows(as_user("ada"), catalog)] == [
        "id", "tenant_id", "name", "region", "team", "email", "budget", "secret"]
    described = rules_proxy.psql("\\d projects", user="vera", password=PASSWORD)
    assert described.rc == 0, described
    assert "region" in described.stdout and "email" in described.stdout, described
    assert "budget" not in described.stdout and "secret" not in described.stdout, described
    described = rules_proxy.psql("\\d projects", user="ed", password=PASSWORD)
    assert described.rc == 0 and "budget" in described.stdout, described
    assert "secret" not in described.stdout, described


def test_writes_to_hidden_or_masked_columns_are_refused(as_user, pg):
    before = truth(pg)
    ed = as_user("ed")
    assert "is not visible" in refused(ed, "UPDATE projects SET secret = 'x' WHERE id = 1")
    assert "is not visible" in refused(
        ed, "INSERT INTO projects (name, region, secret) VALUES ('x', 'eu', 'y')")
    assert "sees it masked" in refused(ed, "UPDATE projects SET email = 'x@y.z' WHERE id = 1")
    assert truth(pg) == before
    # The admin sees email plainly, so it may write it.
    ada = as_user("ada")
    try:
        assert rows(ada, "UPDATE projects SET email = 'new@acme.example' WHERE id = 1") == 1
        assert pg.query("SELECT email FROM public.projects WHERE id = 1") == [("new@acme.example",)]
    finally:
        pg.query("UPDATE public.projects SET email = 'apollo@acme.example' WHERE id = 1")


class ConfiguredProxy(harness.Proxy):
    extra_config: str = ""

    def config_text(self):
        return super().config_text() + self.extra_config


def test_schema_check_rejects_an_unknown_column_at_start(pg, projects_table, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text(PROJECTS.replace("name: budget", "name: budgit")))
    px = harness.Proxy(pg, policy=policy)
    with pytest.raises(harness.HarnessError) as info:
        px.start()
    assert "column public.projects.budgit does not exist in the database" in str(info.value)
    assert f"{policy}:19:9:" in str(info.value), info.value  # where the policy names it
    # The switch turns the check off: the proxy starts, and PostgreSQL refuses the column.
    off = ConfiguredProxy(pg, policy=policy)
    off.extra_config = "policy_schema_check: false\n"
    off.start()
    try:
        conn = off.connect("ed", PASSWORD)  # an editor sees the misspelt column
        refused(conn, "SELECT id, budgit FROM projects", "42703")
        conn.close()
    finally:
        off.stop()


def test_schema_check_rejects_an_unknown_table_on_reload(pg, projects_table, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text())
    px = harness.Proxy(pg, policy=policy).start()
    try:
        conn = px.connect("vera", PASSWORD)
        assert rows(conn, "SELECT count(*) FROM projects") == [(2,)]
        policy.write_text(policy_text() + "reference_tables: [public.planets]\n")
        deadline = time.monotonic() + 10
        while "reload rejected" not in px.output and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "reload rejected" in px.output, px.output
        assert "reference table public.planets does not exist in the database" in px.output
        # The running policy stays.
        assert rows(conn, "SELECT count(*) FROM projects") == [(2,)]
        assert rows(px.connect("ed", PASSWORD), "SELECT count(*) FROM projects") == [(2,)]
    finally:
        px.stop()
