"""The top-level modules of the standard library of each Python version Lambda runs."""

from __future__ import annotations

_PYTHON_3_10 = frozenset(
    """
    __future__ _abc _aix_support _ast _asyncio _bisect _blake2 _bootsubprocess _bz2 _codecs
    _codecs_cn _codecs_hk _codecs_iso2022 _codecs_jp _codecs_kr _codecs_tw _collections
    _collections_abc _compat_pickle _compression _contextvars _crypt _csv _ctypes _curses
    _curses_panel _datetime _dbm _decimal _elementtree _frozen_importlib
    _frozen_importlib_external _functools _gdbm _hashlib _heapq _imp _io _json _locale _lsprof
    _lzma _markupbase _md5 _msi _multibytecodec _multiprocessing _opcode _operator _osx_support
    _overlapped _pickle _posixshmem _posixsubprocess _py_abc _pydecimal _pyio _queue _random
    _scproxy _sha1 _sha256 _sha3 _sha512 _signal _sitebuiltins _socket _sqlite3 _sre _ssl _stat
    _statistics _string _strptime _struct _symtable _thread _threading_local _tkinter
    _tracemalloc _uuid _warnings _weakref _weakrefset _winapi _zoneinfo abc aifc antigravity
    argparse array ast asynchat asyncio asyncore atexit audioop base64 bdb binascii binhex
    bisect builtins bz2 cProfile calendar cgi cgitb chunk cmath cmd code codecs codeop
    collections colorsys compileall concurrent configparser contextlib contextvars copy copyreg
    crypt csv ctypes curses dataclasses datetime dbm decimal difflib dis distutils doctest email
    encodings ensurepip enum errno faulthandler fcntl filecmp fileinput fnmatch fractions ftplib
    functools gc genericpath getopt getpass gettext glob graphlib grp gzip hashlib heapq hmac
    html http idlelib imaplib imghdr imp importlib inspect io ipaddress itertools json keyword
    lib2to3 linecache locale logging lzma mailbox mailcap marshal math mimetypes mmap
    modulefinder msilib msvcrt multiprocessing netrc nis nntplib nt ntpath nturl2path numbers
    opcode operator optparse os ossaudiodev pathlib pdb pickle pickletools pipes pkgutil
    platform plistlib poplib posix posixpath pprint profile pstats pty pwd py_compile pyclbr
    pydoc pydoc_data pyexpat queue quopri random re readline reprlib resource rlcompleter runpy
    sched secrets select selectors shelve shlex shutil signal site smtpd smtplib sndhdr socket
    socketserver spwd sqlite3 sre_compile sre_constants sre_parse ssl stat statistics string
    stringprep struct subprocess sunau symtable sys sysconfig syslog tabnanny tarfile telnetlib
    tempfile termios textwrap this threading time timeit tkinter token tokenize trace traceback
    tracemalloc tty turtle turtledemo types typing unicodedata unittest urllib uu uuid venv
    warnings wave weakref webbrowser winreg winsound wsgiref xdrlib xml xmlrpc zipapp zipfile
    zipimport zlib zoneinfo
    """.split()
)
"""`sys.stdlib_module_names` of CPython 3.10."""

_ADDED_REMOVED = {
    (3, 11): ("_tokenize _typing tomllib", "binhex"),
    (3, 12): (
        "_pydatetime _pylong _sha2",
        "_bootsubprocess _sha256 _sha512 asynchat asyncore distutils imp smtpd",
    ),
    (3, 13): (
        "_android_support _colorize _interpchannels _interpqueues _interpreters _ios_support"
        " _opcode_metadata _pyrepl _suggestions _sysconfig _wmi",
        "_crypt _msi aifc audioop cgi cgitb chunk crypt imghdr lib2to3 mailcap msilib nis nntplib"
        " ossaudiodev pipes sndhdr spwd sunau telnetlib uu xdrlib",
    ),
    (3, 14): (
        "_ast_unparse _hmac _py_warnings _remote_debugging _types _zstd annotationlib compression",
        "_compression",
    ),
}
"""Top-level modules each version added and removed (space-separated), from the version before."""

_PYTHON_3_9_ONLY = frozenset({"_bootlocale", "_peg_parser", "formatter", "parser", "symbol"})
"""Modules of 3.9 that 3.10 removed (3.9 has no `sys.stdlib_module_names`)."""


def stdlib_modules(version: tuple[int, int]) -> frozenset[str]:
    """The top-level standard-library modules of CPython `version` (3.9 to 3.14)."""
    if version == (3, 9):
        return _PYTHON_3_10 | _PYTHON_3_9_ONLY
    if not (3, 10) <= version <= max(_ADDED_REMOVED):
        raise ValueError(f"no standard-library table for Python {version[0]}.{version[1]}")
    modules = set(_PYTHON_3_10)
    for minor in range(11, version[1] + 1):
        added, removed = _ADDED_REMOVED[(3, minor)]
        modules = (modules | set(added.split())) - set(removed.split())
    return frozenset(modules)
