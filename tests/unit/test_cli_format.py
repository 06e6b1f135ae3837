"""cli/format: Go's text/template subset, Docker's --format layer, tabwriter alignment.

The GO_* tables were produced by running the same templates and data through Go 1.19's
text/template and text/tabwriter (with Docker's json/split/join/title/lower/upper/pad/
truncate functions) and are kept only where minke agrees; the deliberate differences are
tested separately below.
"""

from __future__ import annotations

import dataclasses
import enum

import pytest

from minke.cli.format import (
    Template,
    format_rows,
    go_string,
    quiet_lines,
    render_json_lines,
    render_table,
    render_template,
    tabwrite,
)
from minke.errors import InvalidArgument

D = {
    "Repository": "busybox", "Tag": "latest", "ID": "abc", "N": 3, "F": 2.5, "Big": 1e21,
    "Small": 0.00001, "Zero": 0, "Empty": "", "T": True, "Fa": False, "Nil": None,
    "Labels": {"com.example.a": "1", "b": "two", "z": "last"}, "Names": ["x", "y", "z"],
    "Config": {"Image": "busybox", "Env": ["A=1", "B=2"], "Labels": None, "Cmd": ["sh", "-c", "echo hi"]},
    "Nets": {"bridge": {"IPAddress": "10.0.0.2"}, "host": {"IPAddress": ""}},
    "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}, "Html": "<a&b>",
    "Uni": "héllo \u2028",
}

GO_OUTPUTS = [
    ('{{.Repository}}:{{.Tag}}', 'busybox:latest'),
    ('{{.Config.Image}}', 'busybox'),
    ('{{json .Html}}', '"<a&b>"'),
    ('{{json .Uni}}', '"héllo \\u2028"'),
    ('{{index .Labels "b"}}', 'two'),
    ('{{index .Names 1}}', 'y'),
    ('{{range .Names}}[{{.}}]{{end}}', '[x][y][z]'),
    ('{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}', '0=x 1=y 2=z '),
    ('{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}', 'b:two;com.example.a:1;z:last;'),
    ('{{range .Nil}}x{{else}}none{{end}}', 'none'),
    ('{{if .T}}yes{{else}}no{{end}}', 'yes'),
    ('{{if .Fa}}yes{{else if .N}}n{{else}}no{{end}}', 'n'),
    ('{{if .Zero}}y{{else}}z{{end}}', 'z'),
    ('{{if .Empty}}y{{end}}|', '|'),
    ('{{with .Config}}{{.Image}}{{end}}', 'busybox'),
    ('{{with .Nil}}x{{else}}nil{{end}}', 'nil'),
    ('{{.Tag | upper}}', 'LATEST'),
    ('{{.Tag | printf "%s-%s" .ID}}', 'abc-latest'),
    ('{{upper .Tag}} {{lower "ABC"}} {{title "hello wORLD foo-bar"}}', 'LATEST abc Hello WORLD Foo-Bar'),
    ('{{split .Repository "b"}}', '[ usy ox]'),
    ('{{split "abc" ""}}', '[a b c]'),
    ('{{truncate .Repository 3}} {{truncate .Repository 30}}', 'bus busybox'),
    ('{{pad .Tag 2 3}}|{{pad .Empty 2 2}}|', '  latest   ||'),
    ('{{len .Names}} {{len .Labels}} {{len .Uni}}', '3 3 10'),
    ('{{println .Tag .ID}}', 'latest abc\n'),
    ('{{println}}', '\n'),
    ('{{print .N .F "s" 1 2}}', '3 2.5s1 2'),
    ('{{printf "%d"}}', '%!d(MISSING)'),
    ('{{printf "%d" 1 2}}', '1%!(EXTRA int=2)'),
    ('{{printf "%v %v" .F .Big}}', '2.5 1e+21'),
    ('{{.}}', 'map[Big:1e+21 Config:map[Cmd:[sh -c echo hi] Env:[A=1 B=2] Image:busybox Labels:<nil>] Empty: F:2.5 Fa:false Html:<a&b> ID:abc Labels:map[b:two com.example.a:1 z:last] N:3 Names:[x y z] Nets:map[bridge:map[IPAddress:10.0.0.2] host:map[IPAddress:]] Nil:<nil> Ports:map[80/tcp:[map[HostIp:0.0.0.0 HostPort:8080]]] Repository:busybox Small:1e-05 T:true Tag:latest Uni:héllo \u2028 Zero:0]'),
    ('{{.Foo}}', '<no value>'),
    ('{{.Config.Foo}}', '<no value>'),
    ('a\n{{.Foo.Bar}}', 'a\n<no value>'),
    ('{{eq .Tag "latest"}} {{eq .Tag "x" "latest"}} {{ne .Tag "x"}} {{lt "a" "b"}} {{not .T}} {{and .T .N}} {{or .Empty .Tag}} {{and .Empty .X}}', 'true true true true false 3 latest '),
    ('{{$x := .Tag}}{{$x}} {{$x = "new"}}{{$x}}', 'latest new'),
    ('{{$}}', 'map[Big:1e+21 Config:map[Cmd:[sh -c echo hi] Env:[A=1 B=2] Image:busybox Labels:<nil>] Empty: F:2.5 Fa:false Html:<a&b> ID:abc Labels:map[b:two com.example.a:1 z:last] N:3 Names:[x y z] Nets:map[bridge:map[IPAddress:10.0.0.2] host:map[IPAddress:]] Nil:<nil> Ports:map[80/tcp:[map[HostIp:0.0.0.0 HostPort:8080]]] Repository:busybox Small:1e-05 T:true Tag:latest Uni:héllo \u2028 Zero:0]'),
    ('{{$.Tag}}', 'latest'),
    ('{{range .Names}}{{$.Tag}}{{end}}', 'latestlatestlatest'),
    ('{{(index .Ports "80/tcp")}}', '[map[HostIp:0.0.0.0 HostPort:8080]]'),
    ('{{(index (index .Ports "80/tcp") 0).HostPort}}', '8080'),
    ('{{range $p, $c := .Ports}}{{$p}} -> {{(index $c 0).HostPort}}{{end}}', '80/tcp -> 8080'),
    ('{{range .Nets}}{{.IPAddress}} {{end}}', '10.0.0.2  '),
    ('{{range $n, $c := .Nets}}{{$n}}={{$c.IPAddress}} {{end}}', 'bridge=10.0.0.2 host= '),
    ('  {{- .Tag -}}  x  {{- .ID}} ', 'latestxabc '),
    ('{{/* comment */}}a{{- /* c2 */ -}} b', 'ab'),
    ('{{range .Names}}{{if eq . "y"}}{{break}}{{end}}{{.}}{{end}}', 'x'),
    ('{{range .Names}}{{if eq . "y"}}{{continue}}{{end}}{{.}}{{end}}', 'xz'),
    ('{{slice .Repository 1 3}} {{slice .Names 1}}', 'us [y z]'),
    ('{{printf "%s" (index .Names 0)}}', 'x'),
    ('{{ .Tag }}', 'latest'),
    ('{{.Labels.b}}', 'two'),
    ('{{(.Config).Image}}', 'busybox'),
    ('{{with $x := .Config}}{{$x.Image}}{{end}}', 'busybox'),
    ('{{if and .T (eq .N 3.0)}}ok{{end}}', 'ok'),
    ('{{len "héllo"}}', '6'),
    ('{{index "abc" 1}}', '98'),
    ('{{.Tag}}{{.Tag}}', 'latestlatest'),
    ('{{range $i, $e := .Names}}{{if $i}},{{end}}{{$e}}{{end}}', 'x,y,z'),
    ('{{.NotThere | printf "%v"}}', '<nil>'),
    ('{{index .Labels "com.example.a"}}', '1'),
    ('{{$x := 1}}{{if .T}}{{$x = 2}}{{end}}{{$x}}', '2'),
    ('{{printf "%c%c" 104 105}}', 'hi'),
    ('{{printf "%b %o" 5 8}}', '101 10'),
]

GO_ERRORS = [
    ('{{index .Names 7}}', 'template: :1:2: executing "" at <index .Names 7>: error calling index: index out of range: 7'),
    ('{{index .Names "a"}}', 'template: :1:2: executing "" at <index .Names "a">: error calling index: cannot index slice/array with type string'),
    ('{{range .Empty}}x{{else}}empty{{end}}', 'template: :1:8: executing "" at <.Empty>: range can\'t iterate over '),
    ('{{.Config.Labels.X}}', 'template: :1:9: executing "" at <.Config.Labels.X>: nil pointer evaluating interface {}.X'),
    ('{{.Nil.X}}', 'template: :1:6: executing "" at <.Nil.X>: nil pointer evaluating interface {}.X'),
    ('{{eq .Tag 1}}', 'template: :1:2: executing "" at <eq .Tag 1>: error calling eq: incompatible types for comparison'),
    ('{{lt .T .T}}', 'template: :1:2: executing "" at <lt .T .T>: error calling lt: invalid type for comparison'),
    ('{{$nope}}', 'template: :1: undefined variable "$nope"'),
    ('{{"str"}} {{`raw\\n`}} {{\'a\'}} {{1.5}} {{0x1F}} {{-3}} {{true}} {{nil}}', 'template: :1:65: executing "" at <nil>: nil is not a command'),
    ('{{', 'template: :1: unclosed action'),
    ('{{.Tag', 'template: :1: unclosed action'),
    ('{{foo}}', 'template: :1: function "foo" not defined'),
    ('{{if .T}}', 'template: :1: unexpected EOF'),
    ('{{end}}', 'template: :1: unexpected {{end}}'),
    ('{{else}}', 'template: :1: unexpected {{else}}'),
    ('{{.Tag | 3}}', 'template: :1: non executable command in pipeline stage 2'),
    ('{{3 | .Tag}}', 'template: :1:6: executing "" at <.Tag>: Tag is not a method but has arguments'),
    ('{{.Tag 1}}', 'template: :1:2: executing "" at <.Tag>: Tag is not a method but has arguments'),
    ('{{json}}', 'template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0'),
    ('{{json 1 2}}', 'template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 2'),
    ('{{range .Tag}}x{{end}}', 'template: :1:8: executing "" at <.Tag>: range can\'t iterate over latest'),
    ('{{index .Nil 1}}', 'template: :1:2: executing "" at <index .Nil 1>: error calling index: index of untyped nil'),
    ('{{range .Names}}{{$y := .}}{{end}}{{$y}}', 'template: :1: undefined variable "$y"'),
]

GO_MISSINGKEY_ERROR = [
    ('{{.Foo}}', None, 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
    ('{{.Config.Foo}}', None, 'template: :1:9: executing "" at <.Config.Foo>: map has no entry for key "Foo"'),
    ('{{.Nil.X}}', None, 'template: :1:6: executing "" at <.Nil.X>: nil pointer evaluating interface {}.X'),
    ('{{.Foo.Bar}}', None, 'template: :1:6: executing "" at <.Foo.Bar>: map has no entry for key "Foo"'),
]

GO_TABWRITER = [
    ('a\tb\tc\nlonger cell here\tx\ty\n', 'a                  b         c\nlonger cell here   x         y\n'),
    ('REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\tabc123456789\n', 'REPOSITORY   TAG       IMAGE ID\nbusybox      latest    abc123456789\n'),
    ('a\tb\nno tabs\nc\td\te\n', 'a         b\nno tabs\nc         d         e\n'),
    ('x\n', 'x\n'),
    ('', ''),
    ('héllo\twörld\nab\tcd\n', 'héllo     wörld\nab        cd\n'),
    ('a\t\tb\n\t\tc\n', 'a                   b\n                    c\n'),
    ('one\ttwo\nthree\n\tfour\tfive\n', 'one       two\nthree\n          four      five\n'),
    ('a\tb\nc\td\te\tf\ng\th\n', 'a         b\nc         d         e         f\ng         h\n'),
    # An unfinished last line loses its empty trailing cell; \v is a tab, \f a flushing newline.
    ('ab\t', 'ab'),
    ('a\tb\t', 'a         b'),
    ('\t', ''),
    ('x\tlonger cell\fy\tz\n', 'x         longer cell\ny         z\n'),
    ('a\vb\nlonger cell\vc\n', 'a             b\nlonger cell   c\n'),
]


@pytest.mark.parametrize(("template", "expected"), GO_OUTPUTS)
def test_same_output_as_go(template, expected):
    assert Template(template).execute(D, missing="default") == expected


@pytest.mark.parametrize(("template", "message"), GO_ERRORS)
def test_same_error_as_go(template, message):
    with pytest.raises(InvalidArgument) as e:
        Template(template).execute(D, missing="default")
    assert str(e.value) == message


@pytest.mark.parametrize(("template", "expected", "message"), GO_MISSINGKEY_ERROR)
def test_missingkey_error_like_docker_inspect(template, expected, message):
    if message is None:
        assert render_template(template, D, missing="error") == expected
    else:
        with pytest.raises(InvalidArgument) as e:
            Template(template).execute(D, missing="error")
        assert str(e.value) == message


@pytest.mark.parametrize(("text", "expected"), GO_TABWRITER)
def test_tabwriter_same_as_go(text, expected):
    assert tabwrite(text) == expected


# --- where minke means Docker's typed structs rather than Go's map[string]interface{} ------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{index .Labels "nope"}}|', "|"),  # map[string]string: the zero value is ""
        ('{{join .Names ", "}}', "x, y, z"),  # []string in Docker's structs
        ("{{.Nil}}", "<nil>"),  # a nil pointer, as `docker inspect -f '{{.State.Health}}'`
        ("{{json .Config}}", '{"Image":"busybox","Env":["A=1","B=2"],"Labels":null,"Cmd":["sh","-c","echo hi"]}'),
    ],
)
def test_struct_like_semantics(template, expected):
    assert render_template(template, D) == expected


def test_unknown_field_is_an_error_by_default():
    with pytest.raises(InvalidArgument) as e:
        render_template("{{.Foo}}", D)
    assert str(e.value) == (
        "template parsing error: "  # the docker CLI's wrapping, as render_template adds it
        "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type map[string]interface {}"
    )
    with pytest.raises(InvalidArgument, match=r"^template parsing error: template: :1:9: .* at <.Config.Nope>: can't evaluate field Nope"):
        render_template("{{.Config.Nope}}", D)


class Obj:
    repository = "busybox"
    Tag = "1.36"

    def __init__(self) -> None:
        self.config = {"Image": "x"}

    def Upper(self, s: str) -> str:  # noqa: N802 - a Go-style method
        return s.upper()

    @property
    def created_since(self) -> str:
        return "2 days ago"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Tag}}", "1.36"),
        ("{{.Repository}}", "busybox"),  # CamelCase falls back to the snake_case attribute
        ("{{.CreatedSince}}", "2 days ago"),
        ("{{.Config.Image}}", "x"),
        ('{{.Upper "a"}}', "A"),
        ("{{.Tag | .Upper}}", "1.36"),
        ("{{json .Config}}", '{"Image":"x"}'),
    ],
)
def test_objects_with_attributes_and_methods(template, expected):
    assert render_template(template, Obj()) == expected


class State(enum.Enum):
    RUNNING = "running"
    EMPTY = ""


@dataclasses.dataclass(frozen=True)
class Port:
    host_port: str
    private: int


@dataclasses.dataclass(frozen=True)
class Box:
    id: str
    state: State
    ports: tuple[Port, ...]
    labels: dict[str, str]
    blank: State = State.EMPTY


BOX = Box("abc", State.RUNNING, (Port("8080", 80),), {"a": "b"})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.ID}} {{.State}}", "abc running"),  # an enum prints as the value it names
        ("{{.Ports}}", "[{8080 80}]"),  # a struct prints as Go's %v: values in braces
        ("{{.}}", "{abc running [{8080 80}] map[a:b] }"),
        ("{{range .Ports}}{{.HostPort}}:{{.Private}}{{end}}", "8080:80"),
        ('{{index .Labels "a"}} {{.Labels.a}}', "b b"),
        ('{{eq .State "running"}} {{.State | upper}} {{printf "%s" .State}}', "true RUNNING running"),
        ("{{if .Blank}}y{{else}}n{{end}}", "n"),
        ("{{json .State}} {{json .Ports}}", '"running" [{"host_port":"8080","private":80}]'),
    ],
)
def test_dataclasses_and_enums(template, expected):
    assert render_template(template, BOX) == expected


def test_object_missing_attribute():
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope in type Obj"):
        render_template("{{.Nope}}", Obj())


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{", "template: :1: unclosed action"),
        ("{{.Tag", "template: :1: unclosed action"),
        ("{{foo}}", 'template: :1: function "foo" not defined'),
        ("{{if .T}}", "template: :1: unexpected EOF"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{range .X}}{{end}}{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{$nope}}", 'template: :1: undefined variable "$nope"'),
        ("{{range .Names}}{{$y := .}}{{end}}{{$y}}", 'template: :1: undefined variable "$y"'),
        ("{{$x = 1}}", 'template: :1: undefined variable "$x"'),
        ('{{define "x"}}{{end}}', "template: :1: {{define}} is not supported"),
        ("a\nb\n{{.X", "template: :3: unclosed action"),
        ("{{/* open", "template: :1: unclosed comment"),
        ("{{(.X}}", "template: :1: unclosed left paren"),
        ("{{(.X -}}", "template: :1: unclosed left paren"),
        ("{{.X)}}", 'template: :1: unexpected ")" in command'),
        ("{{}}", "template: :1: missing value for command"),
        ("{{\n}}", "template: :2: missing value for command"),
    ],
)
def test_parse_errors(template, message):
    with pytest.raises(InvalidArgument) as e:
        Template(template)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"), (None, "<nil>"), (True, "true"), (0, "0"), (1.0, "1"), (0.1, "0.1"),
        (1e20, "1e+20"), (1e21, "1e+21"), (999999.0, "999999"), (1e6, "1e+06"), (123456789.0, "1.23456789e+08"), (1e-4, "0.0001"), (1e-5, "1e-05"),
        (-2.5e-7, "-2.5e-07"), (float("inf"), "+Inf"), (float("nan"), "NaN"), ([], "[]"),
        ({}, "map[]"), ({"b": 1, "a": [1, "x"]}, "map[a:[1 x] b:1]"),
    ],
)
def test_go_string(value, text):
    assert go_string(value) == text


# --- Docker's --format layer ---------------------------------------------------------------

ROWS = [
    {"Repository": "busybox", "Tag": "latest", "ID": "0123456789ab", "CreatedSince": "2 weeks ago",
     "Size": "4.27MB", "Labels": {"a": "1"}},
    {"Repository": "docker.io/library/hello-whale", "Tag": "<none>", "ID": "fedcba987654",
     "CreatedSince": "About a minute ago", "Size": "787B", "Labels": {}},
]
COLUMNS = ["Repository", "Tag", "ID", "CreatedSince", "Size"]
HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED", "Size": "SIZE"}
DEFAULT_TABLE = (
    "REPOSITORY                      TAG       IMAGE ID       CREATED              SIZE\n"
    "busybox                         latest    0123456789ab   2 weeks ago          4.27MB\n"
    "docker.io/library/hello-whale   <none>    fedcba987654   About a minute ago   787B\n"
)


@pytest.mark.parametrize("fmt", [None, "", "table", " table "])
def test_default_table(fmt):
    assert format_rows(fmt, ROWS, COLUMNS, HEADERS) == DEFAULT_TABLE


def test_default_table_from_header_field_pairs():
    cols = [(HEADERS[c], c) for c in COLUMNS]
    assert format_rows(None, ROWS, cols) == DEFAULT_TABLE
    assert render_table(ROWS, cols) == DEFAULT_TABLE


def test_table_with_no_rows_is_the_header():
    assert format_rows(None, [], COLUMNS, HEADERS) == "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    assert format_rows("table {{.ID}}", [], COLUMNS, HEADERS) == "IMAGE ID\n"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            r"table {{.Repository}}:{{.Tag}}\t{{.ID}}",
            "REPOSITORY:TAG                         IMAGE ID\n"
            "busybox:latest                         0123456789ab\n"
            "docker.io/library/hello-whale:<none>   fedcba987654\n",
        ),
        # Docker's header functions leave the column name alone; pad is not one of them.
        (
            r"table {{.Tag | upper}}\t{{lower .ID}}\t{{json .Labels}}",
            "TAG       IMAGE ID       LABELS\nLATEST    0123456789ab   {\"a\":\"1\"}\n<NONE>    fedcba987654   {}\n",
        ),
        # A field not in the header map: its name split at capitals, upper-cased.
        (
            r"table {{.CreatedSince}}\t{{.SharedSize}}",
            None,
        ),
        ("table {{.ID}}", "IMAGE ID\n0123456789ab\nfedcba987654\n"),
    ],
)
def test_table_templates(fmt, expected):
    if expected is None:
        with pytest.raises(InvalidArgument, match="can't evaluate field SharedSize"):
            format_rows(fmt, ROWS, COLUMNS, HEADERS)
        rows = [dict(r, SharedSize="N/A") for r in ROWS]
        assert format_rows(fmt, rows, COLUMNS, HEADERS) == (
            "CREATED              SHARED SIZE\n2 weeks ago          N/A\nAbout a minute ago   N/A\n"
        )
        return
    assert format_rows(fmt, ROWS, COLUMNS, HEADERS) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("{{.Repository}}:{{.Tag}}", "busybox:latest\ndocker.io/library/hello-whale:<none>\n"),
        (r"{{.ID}}\t{{.Size}}", "0123456789ab\t4.27MB\nfedcba987654\t787B\n"),  # no alignment
        (r"{{.ID}}\n", "0123456789ab\n\nfedcba987654\n\n"),
        ("  {{.Tag}}  ", "latest\n<none>\n"),  # Docker trims spaces around the format
        ('{{index .Labels "a"}}', "1\n\n"),
        ("{{json .}}", (
            '{"CreatedSince":"2 weeks ago","ID":"0123456789ab","Labels":{"a":"1"},'
            '"Repository":"busybox","Size":"4.27MB","Tag":"latest"}\n'
            '{"CreatedSince":"About a minute ago","ID":"fedcba987654","Labels":{},'
            '"Repository":"docker.io/library/hello-whale","Size":"787B","Tag":"<none>"}\n'
        )),
    ],
)
def test_plain_templates(fmt, expected):
    assert format_rows(fmt, ROWS, COLUMNS, HEADERS) == expected


def test_json_format_is_one_sorted_object_per_line():
    out = format_rows("json", ROWS, COLUMNS, HEADERS)
    assert out == format_rows("{{json .}}", ROWS, COLUMNS, HEADERS)
    assert out == render_json_lines(ROWS)
    assert out.count("\n") == 2 and out.startswith('{"CreatedSince":"2 weeks ago",')


def test_plain_template_with_no_rows_prints_nothing():
    assert format_rows("{{.ID}}", [], COLUMNS, HEADERS) == ""


def test_quiet_lines():
    assert quiet_lines(ROWS) == "0123456789ab\nfedcba987654\n"
    assert quiet_lines(ROWS, "Tag") == "latest\n<none>\n"


def test_bad_format_is_invalid_argument():
    with pytest.raises(InvalidArgument, match="^template parsing error: template: :1: unclosed action$"):
        format_rows("{{.ID", ROWS, COLUMNS, HEADERS)
    with pytest.raises(InvalidArgument, match="^template parsing error: template: :1:2: executing"):
        format_rows("{{.Nope}}", ROWS, COLUMNS, HEADERS)
    with pytest.raises(InvalidArgument, match="^template parsing error: template: :1: unclosed action$"):
        render_template("{{", {})
    with pytest.raises(InvalidArgument, match="can't evaluate field Foo"):
        format_rows("table {{.Foo}}", ROWS, COLUMNS, HEADERS)


def test_table_cells_are_measured_in_runes_like_go():
    rows = [{"A": "héllo", "B": "x"}, {"A": "ab", "B": "y"}]
    assert render_table(rows, [("A", "A"), ("B", "B")]) == "A         B\nhéllo     x\nab        y\n"


def test_tabs_inside_values_do_not_break_the_default_table():
    rows = [{"A": "a\tb", "B": "x"}]
    assert render_table(rows, [("A", "A"), ("B", "B")]) == "A         B\na b       x\n"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("  {{- .Tag -}}  x  {{- .ID}} ", "latestxabc "),
        ("{{/* c */}}a{{- /* c2 */ -}} b", "ab"),
        ("{{-3}}", "-3"),  # not a trim marker: no space after the dash
        ("{{range .Names}}{{if eq . \"y\"}}{{break}}{{end}}{{.}}{{end}}", "x"),
        ("{{range .Names}}{{if eq . \"y\"}}{{continue}}{{end}}{{.}}{{end}}", "xz"),
        ("{{range $i, $e := .Names}}{{if $i}},{{end}}{{$e}}{{end}}", "x,y,z"),
        ('{{printf "%-6s|%6s|%03d|%.1f|%x" .Tag "ab" 7 2.25 255}}', "latest|    ab|007|2.2|ff"),
        ("{{slice .Repository 1 3}} {{slice .Names 1}}", "us [y z]"),
        ("{{with $x := .Config}}{{$x.Image}}{{end}}", "busybox"),
        ("{{$x := 1}}{{if .T}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{if and .T (eq .N 3)}}ok{{end}}", "ok"),
    ],
)
def test_more_constructs(template, expected):
    assert render_template(template, D) == expected


# Found by comparing random templates with Go's output.
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{1.}} {{-2.}}", "1 -2"),
        ("{{.B -}} x", "strx"),
        ("{{/* c */}}", ""),
        ("{{.B |}}", "str"),  # Go's parser accepts a trailing pipe
        ("{{(.B |)}}|{{if .B |}}y{{end}}", "str|y"),
    ],
)
def test_go_lexing_corners(template, expected):
    assert render_template(template, {"B": "str"}) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{upper.B}}", 'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 0'),
        ("{{index .A.B | json}}", 'template: :1:2: executing "" at <index .A.B>: error calling index: index of untyped nil'),
        ("{{.B | | upper}}", 'template: :1: unexpected "|" in command'),
        ("{{| .B}}", 'template: :1: unexpected "|" in command'),
        ("{{if | .B}}{{end}}", 'template: :1: unexpected "|" in if'),
        ("{{(|.B)}}", 'template: :1: unexpected "|" in parenthesized pipeline'),
        # Go cannot pass nil where Docker's string functions want a string.
        ("{{upper .N}}", 'template: :1:2: executing "" at <upper .N>: error calling upper: invalid value; expected string'),
        ("{{upper nil}}", 'template: :1:2: executing "" at <upper nil>: error calling upper: invalid value; expected string'),
        ("{{.Missing | lower}}", 'template: :1:13: executing "" at <lower>: error calling lower: invalid value; expected string'),
        ("{{truncate .N 2}}", 'template: :1:2: executing "" at <truncate .N 2>: error calling truncate: invalid value; expected string'),
    ],
)
def test_go_evaluation_corners(template, message):
    with pytest.raises(InvalidArgument) as e:
        Template(template).execute({"A": {}, "B": "str", "N": None}, missing="default")
    assert str(e.value) == message


# fmt.Sprintf as Go 1.19 prints these (checked with the same arguments in Go).
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{printf "%08x|%-8x|%08.1x" "ab" "ab" "ab"}}', "00006162|6162    |00000061"),
        ('{{printf "%8s|%08s|%.2s|%-4s|" "é" "é" "héllo" "a"}}', "       é|0000000é|hé|a   |"),
        ('{{printf "%x|%X|%#x|%o|%#o|%b|%x" 255 255 255 8 8 5 -255}}', "ff|FF|0xff|10|010|101|-ff"),
        ('{{printf "%+d|% d|%05d|%.3d|%-5d|" 5 5 -42 7 3}}', "+5| 5|-0042|007|3    |"),
        ('{{printf "%5.1f|%-8.3e|%6.2f%%|%g|%G" 3.14159 1234.5 99.5 0.000012 1e-7}}', "  3.1|1.234e+03| 99.50%|1.2e-05|1E-07"),
        ('{{printf "%q|%+q|%#q|%q|%+q" "a\tb" "é" "x" 233 -7}}', "\"a\\tb\"|\"\\u00e9\"|`x`|'é'|'\\ufffd'"),
        ('{{printf "%U|%#U|%t|%c|%c" 233 233 true 233 -1}}', "U+00E9|U+00E9 'é'|true|é|\ufffd"),
        ('{{printf "%v|%+v|%d|%s" .L .L .L .L}}', "[a b]|[a b]|[%!d(string=a) %!d(string=b)]|[a b]"),
        ('{{printf "%s|%d|%t|%x" 1 "x" 1 true}}', "%!s(int=1)|%!d(string=x)|%!t(int=1)|%!x(bool=true)"),
        ('{{printf "%8.0s|%-3d|" 0 "x"}}', "%!s(int=        )|%!d(string=x  )|"),
        ('{{printf "%d %s" 1}}|{{printf "%d" 1 "a" nil}}|{{printf "%"}}|{{printf "%v" .Z}}|{{printf "%d" .Z}}',
         "1 %!s(MISSING)|1%!(EXTRA string=a, <nil>)|%!(NOVERB)|<nil>|%!d(<nil>)"),
        ('{{printf "%v|%.0v|%8.3v|%+.1e" 1e20 2.5 3.14159 -0.5}}', "1e+20|2|    3.14|-5.0e-01"),
    ],
)
def test_printf_same_as_go(template, expected):
    assert render_template(template, {"L": ["a", "b"], "Z": None}) == expected
