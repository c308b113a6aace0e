from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
STREAM_FIELD_NUMBER: _ClassVar[int]
stream: _descriptor.FieldDescriptor

class StreamOptions(_message.Message):
    __slots__ = ["event_field", "event_name", "event_oneof", "id_field", "last_event_id_field", "retry"]
    EVENT_FIELD_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_ONEOF_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    event_field: str
    event_name: str
    event_oneof: str
    id_field: str
    last_event_id_field: str
    retry: _duration_pb2.Duration
    def __init__(self, id_field: _Optional[str] = ..., event_field: _Optional[str] = ..., event_oneof: _Optional[str] = ..., event_name: _Optional[str] = ..., last_event_id_field: _Optional[str] = ..., retry: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...
