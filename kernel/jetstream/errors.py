"""The JetStream API error catalogue (nats-server's ``errors.json``) as Python data.

Every JetStream API error nats-server can send is listed here with its HTTP-like ``code``,
its stable ``err_code``, nats-server's constant name (for cross-reading) and its
description template.  Templates substitute ``{err}``, ``{seq}``, ``{subject}``, ... exactly
like nats-server's ``NewJS...Error`` constructors, so that clients which compare the
description literally (nats.js does) see the same text.

An :class:`ErrorKind` is called to build the :class:`ApiError` exception it describes::

    raise STREAM_NOT_FOUND()
    raise STREAM_INVALID_CONFIG(err="max age needs to be >= 100ms")

:meth:`ErrorKind.wrap` is nats-server's ``Unless``: an :class:`ApiError` passes through
unchanged, any other error becomes this kind with ``{err}`` set to its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = ["BY_NAME", "CATALOGUE", "ApiError", "ErrorKind"]


class ApiError(Exception):
    """A JetStream API error: what goes into a response's ``error`` object."""

    __slots__ = ("code", "description", "err_code", "kind")

    def __init__(self, kind: ErrorKind, description: str) -> None:
        super().__init__(description)
        self.kind = kind
        self.code = kind.code
        self.err_code = kind.err_code
        self.description = description

    def to_json(self) -> dict[str, Any]:
        """``{"code", "err_code", "description"}`` in nats-server's field order."""
        return {"code": self.code, "err_code": self.err_code, "description": self.description}

    def __repr__(self) -> str:
        return f"ApiError({self.err_code}, {self.code}, {self.description!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiError):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.err_code, self.description))


class _Keep(dict[str, str]):
    """Leaves a placeholder nobody supplied as it is (nats-server does the same)."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One entry of the catalogue; call it to get the :class:`ApiError`."""

    err_code: int
    code: int
    name: str
    template: str

    def __call__(self, **subs: object) -> ApiError:
        """The error with ``{name}`` placeholders replaced by ``subs`` (``str()`` of each)."""
        if not subs:
            return ApiError(self, self.template)
        text = self.template.format_map(_Keep({k: str(v) for k, v in subs.items()}))
        return ApiError(self, text)

    def wrap(self, err: BaseException | str) -> ApiError:
        """nats-server's ``Unless``: an :class:`ApiError` as is, else this kind with ``{err}``."""
        if isinstance(err, ApiError):
            return err
        return self(err=err)


# err_code, code, nats-server constant, description; an indented line continues the one above.
_TABLE = """
10002 400 JSAccountResourcesExceededErr resource limits exceeded for account
10003 400 JSBadRequestErr bad request
10004 503 JSClusterIncompleteErr incomplete results
10005 400 JSClusterNoPeersErrF {err}
10006 500 JSClusterNotActiveErr JetStream not in clustered mode
10007 500 JSClusterNotAssignedErr JetStream cluster not assigned to this server
10008 503 JSClusterNotAvailErr JetStream system temporarily unavailable
10009 500 JSClusterNotLeaderErr JetStream cluster can not handle request
10010 503 JSClusterRequiredErr JetStream clustering support required
10011 400 JSClusterTagsErr tags placement not supported for operation
10012 500 JSConsumerCreateErrF {err}
10013 400 JSConsumerNameExistErr consumer name already in use
10014 404 JSConsumerNotFoundErr consumer not found
10015 400 JSSnapshotDeliverSubjectInvalidErr deliver subject not valid
10016 400 JSConsumerDurableNameNotInSubjectErr consumer expected to be durable but no
    durable name set in subject
10017 400 JSConsumerDurableNameNotMatchSubjectErr consumer name in subject does not match
    durable name in request
10018 400 JSConsumerDurableNameNotSetErr consumer expected to be durable but a durable name
    was not set
10019 400 JSConsumerEphemeralWithDurableInSubjectErr consumer expected to be ephemeral but
    detected a durable name set in subject
10020 400 JSConsumerEphemeralWithDurableNameErr consumer expected to be ephemeral but a
    durable name was set in request
10021 400 JSStreamExternalApiOverlapErrF stream external api prefix {prefix} must not
    overlap with {subject}
10022 400 JSStreamExternalDelPrefixOverlapsErrF stream external delivery prefix {prefix}
    overlaps with stream subject {subject}
10023 503 JSInsufficientResourcesErr insufficient resources
10024 400 JSStreamInvalidExternalDeliverySubjErrF stream external delivery prefix {prefix}
    must not contain wildcards
10025 400 JSInvalidJSONErr invalid JSON: {err}
10026 400 JSMaximumConsumersLimitErr maximum consumers limit reached
10027 400 JSMaximumStreamsLimitErr maximum number of streams reached
10028 500 JSMemoryResourcesExceededErr insufficient memory resources available
10029 500 JSMirrorConsumerSetupFailedErrF {err}
10030 400 JSMirrorMaxMessageSizeTooBigErr stream mirror must have max message size >= source
10031 400 JSMirrorWithSourcesErr stream mirrors can not also contain other sources
10032 400 JSMirrorWithStartSeqAndTimeErr stream mirrors can not have both start seq and
    start time configured
10033 400 JSMirrorWithSubjectFiltersErr stream mirrors can not contain filtered subjects
10034 400 JSMirrorWithSubjectsErr stream mirrors can not contain subjects
10035 503 JSNoAccountErr account not found
10036 503 JSClusterUnSupportFeatureErr not currently supported in clustered mode
10037 404 JSNoMessageFoundErr no message found
10038 400 JSNotEmptyRequestErr expected an empty request payload
10039 503 JSNotEnabledForAccountErr JetStream not enabled for account
10040 400 JSClusterPeerNotMemberErr peer not a member
10041 500 JSRaftGeneralErrF {err}
10042 500 JSRestoreSubscribeFailedErrF JetStream unable to subscribe to restore snapshot
    {subject}: {err}
10043 400 JSSequenceNotFoundErrF sequence {seq} not found
10044 400 JSClusterServerNotMemberErr server is not a member of the cluster
10045 500 JSSourceConsumerSetupFailedErrF {err}
10046 400 JSSourceMaxMessageSizeTooBigErr stream source must have max message size >= target
10047 500 JSStorageResourcesExceededErr insufficient storage resources available
10048 500 JSStreamAssignmentErrF {err}
10049 500 JSStreamCreateErrF {err}
10050 500 JSStreamDeleteErrF {err}
10051 500 JSStreamGeneralErrorF {err}
10052 500 JSStreamInvalidConfigF {err}
10053 500 JSStreamLimitsErrF {err}
10054 400 JSStreamMessageExceedsMaximumErr message size exceeds maximum allowed
10055 400 JSStreamMirrorNotUpdatableErr stream mirror configuration can not be updated
10056 400 JSStreamMismatchErr stream name in subject does not match request
10057 500 JSStreamMsgDeleteFailedF {err}
10058 400 JSStreamNameExistErr stream name already in use with a different configuration
10059 404 JSStreamNotFoundErr stream not found
10060 400 JSStreamNotMatchErr expected stream does not match
10061 400 JSStreamReplicasNotUpdatableErr Replicas configuration can not be updated
10062 500 JSStreamRestoreErrF restore failed: {err}
10063 503 JSStreamSequenceNotMatchErr expected stream sequence does not match
10064 500 JSStreamSnapshotErrF snapshot failed: {err}
10065 400 JSStreamSubjectOverlapErr subjects overlap with an existing stream
10066 500 JSStreamTemplateCreateErrF {err}
10067 500 JSStreamTemplateDeleteErrF {err}
10068 404 JSStreamTemplateNotFoundErr template not found
10069 500 JSStreamUpdateErrF {err}
10070 400 JSStreamWrongLastMsgIDErrF wrong last msg ID: {id}
10071 400 JSStreamWrongLastSequenceErrF wrong last sequence: {seq}
10072 500 JSTempStorageFailedErr JetStream unable to open temp storage for restore
10073 400 JSTemplateNameNotMatchSubjectErr template name in subject does not match request
10074 500 JSStreamReplicasNotSupportedErr replicas > 1 not supported in non-clustered mode
10075 503 JSPeerRemapErr peer remap failed
10076 503 JSNotEnabledErr JetStream not enabled
10077 503 JSStreamStoreFailedF {err}
10078 400 JSConsumerConfigRequiredErr consumer config required
10079 400 JSConsumerDeliverToWildcardsErr consumer deliver subject has wildcards
10080 400 JSConsumerPushMaxWaitingErr consumer in push mode can not set max waiting
10081 400 JSConsumerDeliverCycleErr consumer deliver subject forms a cycle
10082 400 JSConsumerMaxPendingAckPolicyRequiredErr consumer requires ack policy for max ack
    pending
10083 400 JSConsumerSmallHeartbeatErr consumer idle heartbeat needs to be >= 100ms
10084 400 JSConsumerPullRequiresAckErr consumer in pull mode requires explicit ack policy on
    workqueue stream
10085 400 JSConsumerPullNotDurableErr consumer in pull mode requires a durable name
10086 400 JSConsumerPullWithRateLimitErr consumer in pull mode can not have rate limit set
10087 400 JSConsumerMaxWaitingNegativeErr consumer max waiting needs to be positive
10088 400 JSConsumerHBRequiresPushErr consumer idle heartbeat requires a push based consumer
10089 400 JSConsumerFCRequiresPushErr consumer flow control requires a push based consumer
10090 400 JSConsumerDirectRequiresPushErr consumer direct requires a push based consumer
10091 400 JSConsumerDirectRequiresEphemeralErr consumer direct requires an ephemeral consumer
10092 400 JSConsumerOnMappedErr consumer direct on a mapped consumer
10093 400 JSConsumerFilterNotSubsetErr consumer filter subject is not a valid subset of the
    interest subjects
10094 400 JSConsumerInvalidPolicyErrF {err}
10095 400 JSConsumerInvalidSamplingErrF failed to parse consumer sampling configuration: {err}
10096 500 JSStreamInvalidErr stream not valid
10097 400 JSStreamHeaderExceedsMaximumErr header size exceeds maximum allowed of 64k
10098 400 JSConsumerWQRequiresExplicitAckErr workqueue stream requires explicit ack
10099 400 JSConsumerWQMultipleUnfilteredErr multiple non-filtered consumers not allowed on
    workqueue stream
10100 400 JSConsumerWQConsumerNotUniqueErr filtered consumer not unique on workqueue stream
10101 400 JSConsumerWQConsumerNotDeliverAllErr consumer must be deliver all on workqueue stream
10102 400 JSConsumerNameTooLongErrF consumer name is too long, maximum allowed is {max}
10103 400 JSConsumerBadDurableNameErr durable name can not contain '.', '*', '>'
10104 500 JSConsumerStoreFailedErrF error creating store for consumer: {err}
10105 400 JSConsumerExistingActiveErr consumer already exists and is still active
10106 400 JSConsumerReplacementWithDifferentNameErr consumer replacement durable config not
    the same
10107 400 JSConsumerDescriptionTooLongErrF consumer description is too long, maximum allowed
    is {max}
10108 400 JSConsumerWithFlowControlNeedsHeartbeats consumer with flow control also needs
    heartbeats
10109 400 JSStreamSealedErr invalid operation on sealed stream
10110 500 JSStreamPurgeFailedF {err}
10111 500 JSStreamRollupFailedF {err}
10112 400 JSConsumerInvalidDeliverSubject invalid push consumer deliver subject
10113 400 JSStreamMaxBytesRequired account requires a stream config to have max bytes set
10114 400 JSConsumerMaxRequestBatchNegativeErr consumer max request batch needs to be > 0
10115 400 JSConsumerMaxRequestExpiresTooSmall consumer max request expires needs to be >= 1ms
10116 400 JSConsumerMaxDeliverBackoffErr max deliver is required to be > length of backoff
    values
10117 500 JSStreamInfoMaxSubjectsErr subject details would exceed maximum allowed
10118 500 JSStreamOfflineErr stream is offline
10119 500 JSConsumerOfflineErr consumer is offline
10120 400 JSNoLimitsErr no JetStream default or applicable tiered limit present
10121 400 JSConsumerMaxPendingAckExcessErrF consumer max ack pending exceeds system limit of
    {limit}
10122 400 JSStreamMaxStreamBytesExceeded stream max bytes exceeds account limit max stream bytes
10123 400 JSStreamMoveAndScaleErr can not move and scale a stream in a single update
10124 400 JSStreamMoveInProgressErr stream move already in progress
10125 400 JSConsumerMaxRequestBatchExceededF consumer max request batch exceeds server limit
    of {limit}
10126 400 JSConsumerReplicasExceedsStream consumer config replica count exceeds parent stream
10127 400 JSConsumerNameContainsPathSeparatorsErr Consumer name can not contain path separators
10128 400 JSStreamNameContainsPathSeparatorsErr Stream name can not contain path separators
10129 400 JSStreamReconfigureNotInProgressErr stream reconfiguration not in progress
10130 400 JSStreamNameExistRestoreFailedErr stream name already in use, cannot restore
10131 400 JSConsumerCreateFilterSubjectMismatchErr Consumer create request did not match
    filtered subject from create subject
10132 400 JSConsumerCreateDurableAndNameMismatch Consumer Durable and Name have to be equal
    if both are provided
10133 400 JSReplicasCountCannotBeNegative replicas count cannot be negative
10134 400 JSConsumerReplicasShouldMatchStream consumer config replicas must match interest
    retention stream's replicas
10135 400 JSConsumerMetadataLengthErrF consumer metadata exceeds maximum size of {limit}
10136 400 JSConsumerDuplicateFilterSubjects consumer cannot have both FilterSubject and
    FilterSubjects specified
10137 400 JSConsumerMultipleFiltersNotAllowed consumer with multiple subject filters cannot
    use subject based API
10138 400 JSConsumerOverlappingSubjectFilters consumer subject filters cannot overlap
10139 400 JSConsumerEmptyFilter consumer filter in FilterSubjects cannot be empty
10140 400 JSSourceDuplicateDetected duplicate source configuration detected
10141 400 JSSourceInvalidStreamName sourced stream name is invalid
10142 400 JSMirrorInvalidStreamName mirrored stream name is invalid
10143 400 JSMirrorWithFirstSeqErr stream mirrors can not have first sequence configured
10144 400 JSSourceMultipleFiltersNotAllowed source with multiple subject transforms cannot
    also have a single subject filter
10145 400 JSSourceInvalidSubjectFilter source transform source: {err}
10146 400 JSSourceInvalidTransformDestination source transform: {err}
10147 400 JSSourceOverlappingSubjectFilters source filters can not overlap
10148 400 JSConsumerAlreadyExists consumer already exists
10149 400 JSConsumerDoesNotExist consumer does not exist
10150 400 JSMirrorMultipleFiltersNotAllowed mirror with multiple subject transforms cannot
    also have a single subject filter
10151 400 JSMirrorInvalidSubjectFilter mirror transform source: {err}
10152 400 JSMirrorOverlappingSubjectFilters mirror subject filters can not overlap
10153 400 JSConsumerInactiveThresholdExcess consumer inactive threshold exceeds system limit
    of {limit}
10154 400 JSMirrorInvalidTransformDestination mirror transform: {err}
10155 400 JSStreamTransformInvalidSource stream transform source: {err}
10156 400 JSStreamTransformInvalidDestination stream transform: {err}
10157 400 JSPedanticErrF pedantic mode: {err}
10158 409 JSStreamDuplicateMessageConflict duplicate message id is in process
10159 400 JSConsumerPriorityPolicyWithoutGroup Setting PriorityPolicy requires at least one
    PriorityGroup to be set
10160 400 JSConsumerInvalidPriorityGroupErr Provided priority group does not exist for this
    consumer
10161 400 JSConsumerEmptyGroupName Group name cannot be an empty string
10162 400 JSConsumerInvalidGroupNameErr Valid priority group name must match A-Z, a-z, 0-9,
    -_/=)+ and may not exceed 16 characters
10163 503 JSStreamExpectedLastSeqPerSubjectNotReady expected last sequence per subject
    temporarily unavailable
10164 400 JSStreamWrongLastSequenceConstantErr wrong last sequence
10165 400 JSMessageTTLInvalidErr invalid per-message TTL
10166 400 JSMessageTTLDisabledErr per-message TTL is disabled
10167 429 JSStreamTooManyRequests too many requests
10168 400 JSMessageIncrDisabledErr message counters is disabled
10169 400 JSMessageIncrMissingErr message counter increment is missing
10170 400 JSMessageIncrPayloadErr message counter has payload
10171 400 JSMessageIncrInvalidErr message counter increment is invalid
10172 400 JSMessageCounterBrokenErr message counter is broken
10173 400 JSMirrorWithCountersErr stream mirrors can not also calculate counters
10174 400 JSAtomicPublishDisabledErr atomic publish is disabled
10175 400 JSAtomicPublishMissingSeqErr atomic publish sequence is missing
10176 400 JSAtomicPublishIncompleteBatchErr atomic publish batch is incomplete
10177 400 JSAtomicPublishUnsupportedHeaderBatchErr atomic publish unsupported header used:
    {header}
10178 400 JSConsumerPushWithPriorityGroupErr priority groups can not be used with push consumers
10179 400 JSAtomicPublishInvalidBatchIDErr atomic publish batch ID is invalid
10180 412 JSStreamMinLastSeqErr min last sequence
10181 400 JSConsumerAckPolicyInvalidErr consumer ack policy invalid
10182 400 JSConsumerReplayPolicyInvalidErr consumer replay policy invalid
10183 400 JSConsumerAckWaitNegativeErr consumer ack wait needs to be positive
10184 400 JSConsumerBackOffNegativeErr consumer backoff needs to be positive
10185 412 JSRequiredApiLevelErr JetStream minimum api level required
10186 400 JSMirrorWithMsgSchedulesErr stream mirrors can not also schedule messages
10187 400 JSSourceWithMsgSchedulesErr stream source can not also schedule messages
10188 400 JSMessageSchedulesDisabledErr message schedules is disabled
10189 400 JSMessageSchedulesPatternInvalidErr message schedules pattern is invalid
10190 400 JSMessageSchedulesTargetInvalidErr message schedules target is invalid
10191 400 JSMessageSchedulesTTLInvalidErr message schedules invalid per-message TTL
10192 400 JSMessageSchedulesRollupInvalidErr message schedules invalid rollup
10193 400 JSStreamExpectedLastSeqPerSubjectInvalid missing sequence for expected last
    sequence per subject
10194 500 JSStreamOfflineReasonErrF stream is offline: {err}
10195 500 JSConsumerOfflineReasonErrF consumer is offline: {err}
10196 400 JSConsumerPriorityGroupWithPolicyNone consumer can not have priority groups when
    policy is none
10197 400 JSConsumerPinnedTTLWithoutPriorityPolicyNone PinnedTTL cannot be set when
    PriorityPolicy is none
10198 400 JSMirrorWithAtomicPublishErr stream mirrors can not also use atomic publishing
10199 400 JSAtomicPublishTooLargeBatchErrF atomic publish batch is too large: {size}
10200 400 JSAtomicPublishInvalidBatchCommitErr atomic publish batch commit is invalid
10201 400 JSAtomicPublishContainsDuplicateMessageErr atomic publish batch contains duplicate
    message id
10202 400 JSClusterServerMemberChangeInflightErr cluster member change is in progress
10203 400 JSMessageSchedulesSourceInvalidErr message schedules source is invalid
10204 400 JSConsumerInvalidResetErr invalid reset: {err}
10205 400 JSBatchPublishDisabledErr batch publish is disabled
10206 400 JSBatchPublishInvalidPatternErr batch publish pattern is invalid
10207 400 JSBatchPublishInvalidBatchIDErr batch publish ID is invalid
10208 400 JSBatchPublishUnknownBatchIDErr batch publish ID unknown
10209 400 JSMirrorWithBatchPublishErr stream mirrors can not also use batch publishing
10210 429 JSAtomicPublishTooManyInflight atomic publish too many inflight
10211 429 JSBatchPublishTooManyInflight batch publish too many inflight
10212 400 JSMessageSchedulesSchedulerInvalidErr message schedules invalid scheduler
10213 400 JSMirrorDurableConsumerCfgInvalid stream mirror consumer config is invalid
10214 400 JSMirrorConsumerRequiresAckFCErr stream mirror consumer requires flow control ack
    policy
10215 400 JSSourceDurableConsumerCfgInvalid stream source consumer config is invalid
10216 400 JSSourceDurableConsumerDuplicateDetected duplicate stream source consumer detected
10217 400 JSSourceConsumerRequiresAckFCErr stream source consumer requires flow control ack
    policy
10218 400 JSConsumerAckFCRequiresPushErr flow control ack policy requires a push based consumer
10219 400 JSConsumerAckFCRequiresFCErr flow control ack policy requires flow control
10220 400 JSConsumerAckFCRequiresMaxAckPendingErr flow control ack policy requires max ack
    pending
10221 400 JSConsumerAckFCRequiresNoAckWaitErr flow control ack policy requires unset ack wait
10222 400 JSConsumerAckFCRequiresNoMaxDeliverErr flow control ack policy requires unset max
    deliver
10223 400 JSMessageSchedulesTimeZoneInvalidErr message schedules time zone is invalid
10224 400 JSClusterRescueErr JetStream system rescue not applied: {err}
10225 400 JSConsumerStreamIdentityMismatchF consumer's stream identity does not match: {msg}
10226 400 JSStreamReconfigureInProgressErr stream reconfiguration already in progress
10227 400 JSMessageSourceHdrNotAllowedErr message stream source header is not allowed
"""


def _parse(table: str) -> dict[int, ErrorKind]:
    lines: list[str] = []
    for line in table.splitlines():
        if line.startswith(" "):
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    out: dict[int, ErrorKind] = {}
    for line in lines:
        err_code, code, name, template = line.split(" ", 3)
        out[int(err_code)] = ErrorKind(int(err_code), int(code), name, template)
    return out


CATALOGUE: Final[dict[int, ErrorKind]] = _parse(_TABLE)
"""Every JetStream API error by ``err_code``."""

BY_NAME: Final[dict[str, ErrorKind]] = {kind.name: kind for kind in CATALOGUE.values()}
"""Every JetStream API error by nats-server's constant name (``JSStreamNotFoundErr``)."""

# One name per error (nats-server's constant without ``JS`` and ``Err``/``F``).
ACCOUNT_RESOURCES_EXCEEDED: Final = CATALOGUE[10002]
BAD_REQUEST: Final = CATALOGUE[10003]
CLUSTER_INCOMPLETE: Final = CATALOGUE[10004]
CLUSTER_NO_PEERS: Final = CATALOGUE[10005]
CLUSTER_NOT_ACTIVE: Final = CATALOGUE[10006]
CLUSTER_NOT_ASSIGNED: Final = CATALOGUE[10007]
CLUSTER_NOT_AVAIL: Final = CATALOGUE[10008]
CLUSTER_NOT_LEADER: Final = CATALOGUE[10009]
CLUSTER_REQUIRED: Final = CATALOGUE[10010]
CLUSTER_TAGS: Final = CATALOGUE[10011]
CONSUMER_CREATE: Final = CATALOGUE[10012]
CONSUMER_NAME_EXIST: Final = CATALOGUE[10013]
CONSUMER_NOT_FOUND: Final = CATALOGUE[10014]
SNAPSHOT_DELIVER_SUBJECT_INVALID: Final = CATALOGUE[10015]
CONSUMER_DURABLE_NAME_NOT_IN_SUBJECT: Final = CATALOGUE[10016]
CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT: Final = CATALOGUE[10017]
CONSUMER_DURABLE_NAME_NOT_SET: Final = CATALOGUE[10018]
CONSUMER_EPHEMERAL_WITH_DURABLE_IN_SUBJECT: Final = CATALOGUE[10019]
CONSUMER_EPHEMERAL_WITH_DURABLE_NAME: Final = CATALOGUE[10020]
STREAM_EXTERNAL_API_OVERLAP: Final = CATALOGUE[10021]
STREAM_EXTERNAL_DEL_PREFIX_OVERLAPS: Final = CATALOGUE[10022]
INSUFFICIENT_RESOURCES: Final = CATALOGUE[10023]
STREAM_INVALID_EXTERNAL_DELIVERY_SUBJ: Final = CATALOGUE[10024]
INVALID_JSON: Final = CATALOGUE[10025]
MAXIMUM_CONSUMERS_LIMIT: Final = CATALOGUE[10026]
MAXIMUM_STREAMS_LIMIT: Final = CATALOGUE[10027]
MEMORY_RESOURCES_EXCEEDED: Final = CATALOGUE[10028]
MIRROR_CONSUMER_SETUP_FAILED: Final = CATALOGUE[10029]
MIRROR_MAX_MESSAGE_SIZE_TOO_BIG: Final = CATALOGUE[10030]
MIRROR_WITH_SOURCES: Final = CATALOGUE[10031]
MIRROR_WITH_START_SEQ_AND_TIME: Final = CATALOGUE[10032]
MIRROR_WITH_SUBJECT_FILTERS: Final = CATALOGUE[10033]
MIRROR_WITH_SUBJECTS: Final = CATALOGUE[10034]
NO_ACCOUNT: Final = CATALOGUE[10035]
CLUSTER_UN_SUPPORT_FEATURE: Final = CATALOGUE[10036]
NO_MESSAGE_FOUND: Final = CATALOGUE[10037]
NOT_EMPTY_REQUEST: Final = CATALOGUE[10038]
NOT_ENABLED_FOR_ACCOUNT: Final = CATALOGUE[10039]
CLUSTER_PEER_NOT_MEMBER: Final = CATALOGUE[10040]
RAFT_GENERAL: Final = CATALOGUE[10041]
RESTORE_SUBSCRIBE_FAILED: Final = CATALOGUE[10042]
SEQUENCE_NOT_FOUND: Final = CATALOGUE[10043]
CLUSTER_SERVER_NOT_MEMBER: Final = CATALOGUE[10044]
SOURCE_CONSUMER_SETUP_FAILED: Final = CATALOGUE[10045]
SOURCE_MAX_MESSAGE_SIZE_TOO_BIG: Final = CATALOGUE[10046]
STORAGE_RESOURCES_EXCEEDED: Final = CATALOGUE[10047]
STREAM_ASSIGNMENT: Final = CATALOGUE[10048]
STREAM_CREATE: Final = CATALOGUE[10049]
STREAM_DELETE: Final = CATALOGUE[10050]
STREAM_GENERAL_ERROR: Final = CATALOGUE[10051]
STREAM_INVALID_CONFIG: Final = CATALOGUE[10052]
STREAM_LIMITS: Final = CATALOGUE[10053]
STREAM_MESSAGE_EXCEEDS_MAXIMUM: Final = CATALOGUE[10054]
STREAM_MIRROR_NOT_UPDATABLE: Final = CATALOGUE[10055]
STREAM_MISMATCH: Final = CATALOGUE[10056]
STREAM_MSG_DELETE_FAILED: Final = CATALOGUE[10057]
STREAM_NAME_EXIST: Final = CATALOGUE[10058]
STREAM_NOT_FOUND: Final = CATALOGUE[10059]
STREAM_NOT_MATCH: Final = CATALOGUE[10060]
STREAM_REPLICAS_NOT_UPDATABLE: Final = CATALOGUE[10061]
STREAM_RESTORE: Final = CATALOGUE[10062]
STREAM_SEQUENCE_NOT_MATCH: Final = CATALOGUE[10063]
STREAM_SNAPSHOT: Final = CATALOGUE[10064]
STREAM_SUBJECT_OVERLAP: Final = CATALOGUE[10065]
STREAM_TEMPLATE_CREATE: Final = CATALOGUE[10066]
STREAM_TEMPLATE_DELETE: Final = CATALOGUE[10067]
STREAM_TEMPLATE_NOT_FOUND: Final = CATALOGUE[10068]
STREAM_UPDATE: Final = CATALOGUE[10069]
STREAM_WRONG_LAST_MSG_ID: Final = CATALOGUE[10070]
STREAM_WRONG_LAST_SEQUENCE: Final = CATALOGUE[10071]
TEMP_STORAGE_FAILED: Final = CATALOGUE[10072]
TEMPLATE_NAME_NOT_MATCH_SUBJECT: Final = CATALOGUE[10073]
STREAM_REPLICAS_NOT_SUPPORTED: Final = CATALOGUE[10074]
PEER_REMAP: Final = CATALOGUE[10075]
NOT_ENABLED: Final = CATALOGUE[10076]
STREAM_STORE_FAILED: Final = CATALOGUE[10077]
CONSUMER_CONFIG_REQUIRED: Final = CATALOGUE[10078]
CONSUMER_DELIVER_TO_WILDCARDS: Final = CATALOGUE[10079]
CONSUMER_PUSH_MAX_WAITING: Final = CATALOGUE[10080]
CONSUMER_DELIVER_CYCLE: Final = CATALOGUE[10081]
CONSUMER_MAX_PENDING_ACK_POLICY_REQUIRED: Final = CATALOGUE[10082]
CONSUMER_SMALL_HEARTBEAT: Final = CATALOGUE[10083]
CONSUMER_PULL_REQUIRES_ACK: Final = CATALOGUE[10084]
CONSUMER_PULL_NOT_DURABLE: Final = CATALOGUE[10085]
CONSUMER_PULL_WITH_RATE_LIMIT: Final = CATALOGUE[10086]
CONSUMER_MAX_WAITING_NEGATIVE: Final = CATALOGUE[10087]
CONSUMER_HB_REQUIRES_PUSH: Final = CATALOGUE[10088]
CONSUMER_FC_REQUIRES_PUSH: Final = CATALOGUE[10089]
CONSUMER_DIRECT_REQUIRES_PUSH: Final = CATALOGUE[10090]
CONSUMER_DIRECT_REQUIRES_EPHEMERAL: Final = CATALOGUE[10091]
CONSUMER_ON_MAPPED: Final = CATALOGUE[10092]
CONSUMER_FILTER_NOT_SUBSET: Final = CATALOGUE[10093]
CONSUMER_INVALID_POLICY: Final = CATALOGUE[10094]
CONSUMER_INVALID_SAMPLING: Final = CATALOGUE[10095]
STREAM_INVALID: Final = CATALOGUE[10096]
STREAM_HEADER_EXCEEDS_MAXIMUM: Final = CATALOGUE[10097]
CONSUMER_WQ_REQUIRES_EXPLICIT_ACK: Final = CATALOGUE[10098]
CONSUMER_WQ_MULTIPLE_UNFILTERED: Final = CATALOGUE[10099]
CONSUMER_WQ_CONSUMER_NOT_UNIQUE: Final = CATALOGUE[10100]
CONSUMER_WQ_CONSUMER_NOT_DELIVER_ALL: Final = CATALOGUE[10101]
CONSUMER_NAME_TOO_LONG: Final = CATALOGUE[10102]
CONSUMER_BAD_DURABLE_NAME: Final = CATALOGUE[10103]
CONSUMER_STORE_FAILED: Final = CATALOGUE[10104]
CONSUMER_EXISTING_ACTIVE: Final = CATALOGUE[10105]
CONSUMER_REPLACEMENT_WITH_DIFFERENT_NAME: Final = CATALOGUE[10106]
CONSUMER_DESCRIPTION_TOO_LONG: Final = CATALOGUE[10107]
CONSUMER_WITH_FLOW_CONTROL_NEEDS_HEARTBEATS: Final = CATALOGUE[10108]
STREAM_SEALED: Final = CATALOGUE[10109]
STREAM_PURGE_FAILED: Final = CATALOGUE[10110]
STREAM_ROLLUP_FAILED: Final = CATALOGUE[10111]
CONSUMER_INVALID_DELIVER_SUBJECT: Final = CATALOGUE[10112]
STREAM_MAX_BYTES_REQUIRED: Final = CATALOGUE[10113]
CONSUMER_MAX_REQUEST_BATCH_NEGATIVE: Final = CATALOGUE[10114]
CONSUMER_MAX_REQUEST_EXPIRES_TOO_SMALL: Final = CATALOGUE[10115]
CONSUMER_MAX_DELIVER_BACKOFF: Final = CATALOGUE[10116]
STREAM_INFO_MAX_SUBJECTS: Final = CATALOGUE[10117]
STREAM_OFFLINE: Final = CATALOGUE[10118]
CONSUMER_OFFLINE: Final = CATALOGUE[10119]
NO_LIMITS: Final = CATALOGUE[10120]
CONSUMER_MAX_PENDING_ACK_EXCESS: Final = CATALOGUE[10121]
STREAM_MAX_STREAM_BYTES_EXCEEDED: Final = CATALOGUE[10122]
STREAM_MOVE_AND_SCALE: Final = CATALOGUE[10123]
STREAM_MOVE_IN_PROGRESS: Final = CATALOGUE[10124]
CONSUMER_MAX_REQUEST_BATCH_EXCEEDED: Final = CATALOGUE[10125]
CONSUMER_REPLICAS_EXCEEDS_STREAM: Final = CATALOGUE[10126]
CONSUMER_NAME_CONTAINS_PATH_SEPARATORS: Final = CATALOGUE[10127]
STREAM_NAME_CONTAINS_PATH_SEPARATORS: Final = CATALOGUE[10128]
STREAM_RECONFIGURE_NOT_IN_PROGRESS: Final = CATALOGUE[10129]
STREAM_NAME_EXIST_RESTORE_FAILED: Final = CATALOGUE[10130]
CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH: Final = CATALOGUE[10131]
CONSUMER_CREATE_DURABLE_AND_NAME_MISMATCH: Final = CATALOGUE[10132]
REPLICAS_COUNT_CANNOT_BE_NEGATIVE: Final = CATALOGUE[10133]
CONSUMER_REPLICAS_SHOULD_MATCH_STREAM: Final = CATALOGUE[10134]
CONSUMER_METADATA_LENGTH: Final = CATALOGUE[10135]
CONSUMER_DUPLICATE_FILTER_SUBJECTS: Final = CATALOGUE[10136]
CONSUMER_MULTIPLE_FILTERS_NOT_ALLOWED: Final = CATALOGUE[10137]
CONSUMER_OVERLAPPING_SUBJECT_FILTERS: Final = CATALOGUE[10138]
CONSUMER_EMPTY_FILTER: Final = CATALOGUE[10139]
SOURCE_DUPLICATE_DETECTED: Final = CATALOGUE[10140]
SOURCE_INVALID_STREAM_NAME: Final = CATALOGUE[10141]
MIRROR_INVALID_STREAM_NAME: Final = CATALOGUE[10142]
MIRROR_WITH_FIRST_SEQ: Final = CATALOGUE[10143]
SOURCE_MULTIPLE_FILTERS_NOT_ALLOWED: Final = CATALOGUE[10144]
SOURCE_INVALID_SUBJECT_FILTER: Final = CATALOGUE[10145]
SOURCE_INVALID_TRANSFORM_DESTINATION: Final = CATALOGUE[10146]
SOURCE_OVERLAPPING_SUBJECT_FILTERS: Final = CATALOGUE[10147]
CONSUMER_ALREADY_EXISTS: Final = CATALOGUE[10148]
CONSUMER_DOES_NOT_EXIST: Final = CATALOGUE[10149]
MIRROR_MULTIPLE_FILTERS_NOT_ALLOWED: Final = CATALOGUE[10150]
MIRROR_INVALID_SUBJECT_FILTER: Final = CATALOGUE[10151]
MIRROR_OVERLAPPING_SUBJECT_FILTERS: Final = CATALOGUE[10152]
CONSUMER_INACTIVE_THRESHOLD_EXCESS: Final = CATALOGUE[10153]
MIRROR_INVALID_TRANSFORM_DESTINATION: Final = CATALOGUE[10154]
STREAM_TRANSFORM_INVALID_SOURCE: Final = CATALOGUE[10155]
STREAM_TRANSFORM_INVALID_DESTINATION: Final = CATALOGUE[10156]
PEDANTIC: Final = CATALOGUE[10157]
STREAM_DUPLICATE_MESSAGE_CONFLICT: Final = CATALOGUE[10158]
CONSUMER_PRIORITY_POLICY_WITHOUT_GROUP: Final = CATALOGUE[10159]
CONSUMER_INVALID_PRIORITY_GROUP: Final = CATALOGUE[10160]
CONSUMER_EMPTY_GROUP_NAME: Final = CATALOGUE[10161]
CONSUMER_INVALID_GROUP_NAME: Final = CATALOGUE[10162]
STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY: Final = CATALOGUE[10163]
STREAM_WRONG_LAST_SEQUENCE_CONSTANT: Final = CATALOGUE[10164]
MESSAGE_TTL_INVALID: Final = CATALOGUE[10165]
MESSAGE_TTL_DISABLED: Final = CATALOGUE[10166]
STREAM_TOO_MANY_REQUESTS: Final = CATALOGUE[10167]
MESSAGE_INCR_DISABLED: Final = CATALOGUE[10168]
MESSAGE_INCR_MISSING: Final = CATALOGUE[10169]
MESSAGE_INCR_PAYLOAD: Final = CATALOGUE[10170]
MESSAGE_INCR_INVALID: Final = CATALOGUE[10171]
MESSAGE_COUNTER_BROKEN: Final = CATALOGUE[10172]
MIRROR_WITH_COUNTERS: Final = CATALOGUE[10173]
ATOMIC_PUBLISH_DISABLED: Final = CATALOGUE[10174]
ATOMIC_PUBLISH_MISSING_SEQ: Final = CATALOGUE[10175]
ATOMIC_PUBLISH_INCOMPLETE_BATCH: Final = CATALOGUE[10176]
ATOMIC_PUBLISH_UNSUPPORTED_HEADER_BATCH: Final = CATALOGUE[10177]
CONSUMER_PUSH_WITH_PRIORITY_GROUP: Final = CATALOGUE[10178]
ATOMIC_PUBLISH_INVALID_BATCH_ID: Final = CATALOGUE[10179]
STREAM_MIN_LAST_SEQ: Final = CATALOGUE[10180]
CONSUMER_ACK_POLICY_INVALID: Final = CATALOGUE[10181]
CONSUMER_REPLAY_POLICY_INVALID: Final = CATALOGUE[10182]
CONSUMER_ACK_WAIT_NEGATIVE: Final = CATALOGUE[10183]
CONSUMER_BACK_OFF_NEGATIVE: Final = CATALOGUE[10184]
REQUIRED_API_LEVEL: Final = CATALOGUE[10185]
MIRROR_WITH_MSG_SCHEDULES: Final = CATALOGUE[10186]
SOURCE_WITH_MSG_SCHEDULES: Final = CATALOGUE[10187]
MESSAGE_SCHEDULES_DISABLED: Final = CATALOGUE[10188]
MESSAGE_SCHEDULES_PATTERN_INVALID: Final = CATALOGUE[10189]
MESSAGE_SCHEDULES_TARGET_INVALID: Final = CATALOGUE[10190]
MESSAGE_SCHEDULES_TTL_INVALID: Final = CATALOGUE[10191]
MESSAGE_SCHEDULES_ROLLUP_INVALID: Final = CATALOGUE[10192]
STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID: Final = CATALOGUE[10193]
STREAM_OFFLINE_REASON: Final = CATALOGUE[10194]
CONSUMER_OFFLINE_REASON: Final = CATALOGUE[10195]
CONSUMER_PRIORITY_GROUP_WITH_POLICY_NONE: Final = CATALOGUE[10196]
CONSUMER_PINNED_TTL_WITHOUT_PRIORITY_POLICY_NONE: Final = CATALOGUE[10197]
MIRROR_WITH_ATOMIC_PUBLISH: Final = CATALOGUE[10198]
ATOMIC_PUBLISH_TOO_LARGE_BATCH: Final = CATALOGUE[10199]
ATOMIC_PUBLISH_INVALID_BATCH_COMMIT: Final = CATALOGUE[10200]
ATOMIC_PUBLISH_CONTAINS_DUPLICATE_MESSAGE: Final = CATALOGUE[10201]
CLUSTER_SERVER_MEMBER_CHANGE_INFLIGHT: Final = CATALOGUE[10202]
MESSAGE_SCHEDULES_SOURCE_INVALID: Final = CATALOGUE[10203]
CONSUMER_INVALID_RESET: Final = CATALOGUE[10204]
BATCH_PUBLISH_DISABLED: Final = CATALOGUE[10205]
BATCH_PUBLISH_INVALID_PATTERN: Final = CATALOGUE[10206]
BATCH_PUBLISH_INVALID_BATCH_ID: Final = CATALOGUE[10207]
BATCH_PUBLISH_UNKNOWN_BATCH_ID: Final = CATALOGUE[10208]
MIRROR_WITH_BATCH_PUBLISH: Final = CATALOGUE[10209]
ATOMIC_PUBLISH_TOO_MANY_INFLIGHT: Final = CATALOGUE[10210]
BATCH_PUBLISH_TOO_MANY_INFLIGHT: Final = CATALOGUE[10211]
MESSAGE_SCHEDULES_SCHEDULER_INVALID: Final = CATALOGUE[10212]
MIRROR_DURABLE_CONSUMER_CFG_INVALID: Final = CATALOGUE[10213]
MIRROR_CONSUMER_REQUIRES_ACK_FC: Final = CATALOGUE[10214]
SOURCE_DURABLE_CONSUMER_CFG_INVALID: Final = CATALOGUE[10215]
SOURCE_DURABLE_CONSUMER_DUPLICATE_DETECTED: Final = CATALOGUE[10216]
SOURCE_CONSUMER_REQUIRES_ACK_FC: Final = CATALOGUE[10217]
CONSUMER_ACK_FC_REQUIRES_PUSH: Final = CATALOGUE[10218]
CONSUMER_ACK_FC_REQUIRES_FC: Final = CATALOGUE[10219]
CONSUMER_ACK_FC_REQUIRES_MAX_ACK_PENDING: Final = CATALOGUE[10220]
CONSUMER_ACK_FC_REQUIRES_NO_ACK_WAIT: Final = CATALOGUE[10221]
CONSUMER_ACK_FC_REQUIRES_NO_MAX_DELIVER: Final = CATALOGUE[10222]
MESSAGE_SCHEDULES_TIME_ZONE_INVALID: Final = CATALOGUE[10223]
CLUSTER_RESCUE: Final = CATALOGUE[10224]
CONSUMER_STREAM_IDENTITY_MISMATCH: Final = CATALOGUE[10225]
STREAM_RECONFIGURE_IN_PROGRESS: Final = CATALOGUE[10226]
MESSAGE_SOURCE_HDR_NOT_ALLOWED: Final = CATALOGUE[10227]
