"""SOP class and transfer syntax tables — the single source for these facts.

Sources:

* ``/work/shared/storescp-manual.txt`` (DCMTK 3.6.9 storescp manual), section
  "DICOM Conformance": the Verification SOP class, the storage SOP classes
  accepted by default (names exactly as the manual prints them, including its
  abbreviations such as ``CompositingPlanarMPRVolumetricPresent.StateStorage``)
  and the transfer syntax lists.
* ``spec/storescp-behavior.md`` section 5.1: the modality / file-name prefix
  table (3.6.9 variant) and section 3.1: the transfer syntax preference lists.
* DCMTK's UID name map: the symbolic transfer syntax names of negotiation
  profiles (``-xf``, :mod:`fastscp.profiles`).

Transfer syntax UIDs and their properties (VR, byte order, encapsulated,
deflated) are written here only: the stream writer, the negotiation, the
profiles and the output options take them from this module.

Note (spec section 8.5): Debian's DCMTK 3.6.7 refuses 13 of the storage
classes listed here; this table follows the 3.6.9 manual.
"""

# no `from __future__ import annotations`: the NamedTuple classes below would
# compile each of their (then textual) field annotations at import (start-up time)
import sys
from typing import Dict, NamedTuple, Optional, Tuple

__all__ = [
    "VERIFICATION_SOP_CLASS",
    "VERIFICATION_SOP_CLASS_NAME",
    "SOPClass",
    "STORAGE_SOP_CLASSES",
    "STORAGE_SOP_CLASS_UIDS",
    "OTHER_PREFIXED_SOP_CLASSES",
    "UNKNOWN_PREFIX",
    "UNKNOWN_LOG_ABBREVIATION",
    "sop_class_name",
    "filename_prefix",
    "log_abbreviation",
    "is_storage_sop_class",
    "TransferSyntax",
    "TRANSFER_SYNTAX_ROOT",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "ENCAPSULATED_UNCOMPRESSED",
    "KNOWN_TRANSFER_SYNTAXES",
    "TRANSFER_SYNTAXES",
    "UNCOMPRESSED_TRANSFER_SYNTAXES",
    "transfer_syntax",
    "transfer_syntax_by_dcmtk_name",
    "is_standard_transfer_syntax",
    "UNCOMPRESSED_PREFERENCE",
    "PREFERENCE_LISTS",
    "preference_list",
]

# ---------------------------------------------------------------------------
# SOP classes
# ---------------------------------------------------------------------------

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
VERIFICATION_SOP_CLASS_NAME = "VerificationSOPClass"


class SOPClass(NamedTuple):
    """A storage SOP class: UID, name (as in the manual), file-name prefix."""

    uid: str
    name: str
    prefix: str


#: Every storage SOP class storescp accepts by default, in the manual's order
#: (the "DICOM Conformance" list, Verification excluded).
STORAGE_SOP_CLASSES: Tuple[SOPClass, ...] = (
    SOPClass("1.2.840.10008.5.1.1.27", "RETIRED_StoredPrintStorage", "SP"),
    SOPClass("1.2.840.10008.5.1.1.29", "RETIRED_HardcopyGrayscaleImageStorage", "HG"),
    SOPClass("1.2.840.10008.5.1.1.30", "RETIRED_HardcopyColorImageStorage", "HC"),
    SOPClass("1.2.840.10008.5.1.4.1.1.1", "ComputedRadiographyImageStorage", "CR"),
    SOPClass("1.2.840.10008.5.1.4.1.1.1.1", "DigitalXRayImageStorageForPresentation", "DX"),
    SOPClass("1.2.840.10008.5.1.4.1.1.1.1.1", "DigitalXRayImageStorageForProcessing", "DP"),
    SOPClass("1.2.840.10008.5.1.4.1.1.1.2", "DigitalMammographyXRayImageStorageForPresentation", "DXm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.1.2.1", "DigitalMammographyXRayImageStorageForProcessing", "DPm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.1.3", "DigitalIntraOralXRayImageStorageForPresentation", "DXo"),
    SOPClass("1.2.840.10008.5.1.4.1.1.1.3.1", "DigitalIntraOralXRayImageStorageForProcessing", "DPo"),
    SOPClass("1.2.840.10008.5.1.4.1.1.2", "CTImageStorage", "CT"),
    SOPClass("1.2.840.10008.5.1.4.1.1.2.1", "EnhancedCTImageStorage", "CTe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.2.2", "LegacyConvertedEnhancedCTImageStorage", "CTl"),
    SOPClass("1.2.840.10008.5.1.4.1.1.3", "RETIRED_UltrasoundMultiframeImageStorage", "USf"),
    SOPClass("1.2.840.10008.5.1.4.1.1.3.1", "UltrasoundMultiframeImageStorage", "USm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.4", "MRImageStorage", "MR"),
    SOPClass("1.2.840.10008.5.1.4.1.1.4.1", "EnhancedMRImageStorage", "MRe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.4.2", "MRSpectroscopyStorage", "MRs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.4.3", "EnhancedMRColorImageStorage", "MRc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.4.4", "LegacyConvertedEnhancedMRImageStorage", "MRl"),
    SOPClass("1.2.840.10008.5.1.4.1.1.5", "RETIRED_NuclearMedicineImageStorage", "NMr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.6", "RETIRED_UltrasoundImageStorage", "USr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.6.1", "UltrasoundImageStorage", "US"),
    SOPClass("1.2.840.10008.5.1.4.1.1.6.2", "EnhancedUSVolumeStorage", "USe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.6.3", "PhotoacousticImageStorage", "PA"),
    SOPClass("1.2.840.10008.5.1.4.1.1.7", "SecondaryCaptureImageStorage", "SC"),
    SOPClass("1.2.840.10008.5.1.4.1.1.7.1", "MultiframeSingleBitSecondaryCaptureImageStorage", "SCs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.7.2", "MultiframeGrayscaleByteSecondaryCaptureImageStorage", "SCb"),
    SOPClass("1.2.840.10008.5.1.4.1.1.7.3", "MultiframeGrayscaleWordSecondaryCaptureImageStorage", "SCw"),
    SOPClass("1.2.840.10008.5.1.4.1.1.7.4", "MultiframeTrueColorSecondaryCaptureImageStorage", "SCc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.8", "RETIRED_StandaloneOverlayStorage", "OV"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9", "RETIRED_StandaloneCurveStorage", "CV"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.1", "DRAFT_WaveformStorage", "WV_d"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.1.1", "TwelveLeadECGWaveformStorage", "TLE"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.1.2", "GeneralECGWaveformStorage", "ECG"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.1.3", "AmbulatoryECGWaveformStorage", "ECA"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.1.4", "General32BitECGWaveformStorage", "ECGh"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.2.1", "HemodynamicWaveformStorage", "WVh"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.3.1", "CardiacElectrophysiologyWaveformStorage", "WVc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.4.1", "BasicVoiceAudioWaveformStorage", "AUV"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.4.2", "GeneralAudioWaveformStorage", "AUG"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.5.1", "ArterialPulseWaveformStorage", "WVa"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.6.1", "RespiratoryWaveformStorage", "WVr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.6.2", "MultichannelRespiratoryWaveformStorage", "WVm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.7.1", "RoutineScalpElectroencephalogramWaveformStorage", "EEG"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.7.2", "ElectromyogramWaveformStorage", "EMG"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.7.3", "ElectrooculogramWaveformStorage", "EOG"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.7.4", "SleepElectroencephalogramWaveformStorage", "WVs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.9.8.1", "BodyPositionWaveformStorage", "WVb"),
    SOPClass("1.2.840.10008.5.1.4.1.1.10", "RETIRED_StandaloneModalityLUTStorage", "ML"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11", "RETIRED_StandaloneVOILUTStorage", "VO"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.1", "GrayscaleSoftcopyPresentationStateStorage", "PSg"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.2", "ColorSoftcopyPresentationStateStorage", "PSc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.3", "PseudoColorSoftcopyPresentationStateStorage", "PSp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.4", "BlendingSoftcopyPresentationStateStorage", "PSb"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.5", "XAXRFGrayscaleSoftcopyPresentationStateStorage", "PSx"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.6", "GrayscalePlanarMPRVolumetricPresentationStateStorage", "VPg"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.7", "CompositingPlanarMPRVolumetricPresent.StateStorage", "VPc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.8", "AdvancedBlendingPresentationStateStorage", "PSa"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.9", "VolumeRenderingVolumetricPresentationStateStorage", "VPv"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.10", "SegmentedVolumeRenderingVolumetricPres.StateStorage", "VPs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.11", "MultipleVolumeRenderingVolumetricPres.StateStorage", "VPm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.11.12", "VariableModalityLUTSoftcopyPresentationStateStorage", "PSv"),
    SOPClass("1.2.840.10008.5.1.4.1.1.12.1", "XRayAngiographicImageStorage", "XA"),
    SOPClass("1.2.840.10008.5.1.4.1.1.12.1.1", "EnhancedXAImageStorage", "XAe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.12.2", "XRayRadiofluoroscopicImageStorage", "RF"),
    SOPClass("1.2.840.10008.5.1.4.1.1.12.2.1", "EnhancedXRFImageStorage", "RFe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.12.3", "RETIRED_XRayAngiographicBiPlaneImageStorage", "XB"),
    SOPClass("1.2.840.10008.5.1.4.1.1.13.1.1", "XRay3DAngiographicImageStorage", "XA3"),
    SOPClass("1.2.840.10008.5.1.4.1.1.13.1.2", "XRay3DCraniofacialImageStorage", "XC3"),
    SOPClass("1.2.840.10008.5.1.4.1.1.13.1.3", "BreastTomosynthesisImageStorage", "BT"),
    SOPClass("1.2.840.10008.5.1.4.1.1.13.1.4", "BreastProjectionXRayImageStorageForPresentation", "BX"),
    SOPClass("1.2.840.10008.5.1.4.1.1.13.1.5", "BreastProjectionXRayImageStorageForProcessing", "BP"),
    SOPClass("1.2.840.10008.5.1.4.1.1.14.1", "IntravascularOpt.Coh.Tom.ImageStorageForPresentation", "OCt"),
    SOPClass("1.2.840.10008.5.1.4.1.1.14.2", "IntravascularOpt.Coh.Tom.ImageStorageForProcessing", "OCp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.20", "NuclearMedicineImageStorage", "NM"),
    SOPClass("1.2.840.10008.5.1.4.1.1.30", "ParametricMapStorage", "PM"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66", "RawDataStorage", "RAW"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.1", "SpatialRegistrationStorage", "RGs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.2", "SpatialFiducialsStorage", "FID"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.3", "DeformableSpatialRegistrationStorage", "RGd"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.4", "SegmentationStorage", "SG"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.5", "SurfaceSegmentationStorage", "SGs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.6", "TractographyResultsStorage", "TR"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.7", "LabelMapSegmentationStorage", "SGl"),
    SOPClass("1.2.840.10008.5.1.4.1.1.66.8", "HeightMapSegmentationStorage", "SGh"),
    SOPClass("1.2.840.10008.5.1.4.1.1.67", "RealWorldValueMappingStorage", "RWM"),
    SOPClass("1.2.840.10008.5.1.4.1.1.68.1", "SurfaceScanMeshStorage", "SSm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.68.2", "SurfaceScanPointCloudStorage", "SSp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1", "RETIRED_VLImageStorage", "VLr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.1", "VLEndoscopicImageStorage", "VLe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.1.1", "VideoEndoscopicImageStorage", "VVe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.2", "VLMicroscopicImageStorage", "VLm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.2.1", "VideoMicroscopicImageStorage", "VVm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.3", "VLSlideCoordinatesMicroscopicImageStorage", "VLs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.4", "VLPhotographicImageStorage", "VLp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.4.1", "VideoPhotographicImageStorage", "VVp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.1", "OphthalmicPhotography8BitImageStorage", "OPb"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.2", "OphthalmicPhotography16BitImageStorage", "OPw"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.3", "StereometricRelationshipStorage", "OPr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.4", "OphthalmicTomographyImageStorage", "OPt"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.5", "WideFieldOphthalmicPhoto.Stereogr.Proj.ImageStorage", "OWs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.6", "WideFieldOphthalmicPhotogr.3DCoordinatesImageStorage", "OW3"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.7", "OphthalmicOpticalCoherenceTomogr.EnFaceImageStorage", "OCe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.5.8", "OphthalmicOpticalCoh.Tomogr.BscanVolumeAnalysisStor.", "OCb"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.6", "VLWholeSlideMicroscopyImageStorage", "VLw"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.7", "DermoscopicPhotographyImageStorage", "VLd"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.8", "ConfocalMicroscopyImageStorage", "CFm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.1.9", "ConfocalMicroscopyTiledPyramidalImageStorage", "CFt"),
    SOPClass("1.2.840.10008.5.1.4.1.1.77.2", "RETIRED_VLMultiframeImageStorage", "VMr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.1", "LensometryMeasurementsStorage", "OPl"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.2", "AutorefractionMeasurementsStorage", "OPa"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.3", "KeratometryMeasurementsStorage", "OPk"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.4", "SubjectiveRefractionMeasurementsStorage", "OPs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.5", "VisualAcuityMeasurementsStorage", "OPv"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.6", "SpectaclePrescriptionReportStorage", "SRs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.7", "OphthalmicAxialMeasurementsStorage", "OPx"),
    SOPClass("1.2.840.10008.5.1.4.1.1.78.8", "IntraocularLensCalculationsStorage", "OPc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.79.1", "MacularGridThicknessAndVolumeReportStorage", "SRg"),
    SOPClass("1.2.840.10008.5.1.4.1.1.80.1", "OphthalmicVisualFieldStaticPerimetryMeasurementsSt.", "OPp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.81.1", "OphthalmicThicknessMapStorage", "OPm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.82.1", "CornealTopographyMapStorage", "CM"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.1", "DRAFT_SRTextStorage", "SR_t"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.2", "DRAFT_SRAudioStorage", "SR_a"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.3", "DRAFT_SRDetailStorage", "SR_d"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.4", "DRAFT_SRComprehensiveStorage", "SR_c"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.11", "BasicTextSRStorage", "SRt"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.22", "EnhancedSRStorage", "SRe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.33", "ComprehensiveSRStorage", "SRc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.34", "Comprehensive3DSRStorage", "SR3"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.35", "ExtensibleSRStorage", "SRx"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.40", "ProcedureLogStorage", "SRp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.50", "MammographyCADSRStorage", "SRm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.59", "KeyObjectSelectionDocumentStorage", "KO"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.65", "ChestCADSRStorage", "SRh"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.67", "XRayRadiationDoseSRStorage", "SRd"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.68", "RadiopharmaceuticalRadiationDoseSRStorage", "SRr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.69", "ColonCADSRStorage", "SRo"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.70", "ImplantationPlanSRStorage", "SRi"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.71", "AcquisitionContextSRStorage", "SRa"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.72", "SimplifiedAdultEchoSRStorage", "SRu"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.73", "PatientRadiationDoseSRStorage", "SRq"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.74", "PlannedImagingAgentAdministrationSRStorage", "SRj"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.75", "PerformedImagingAgentAdministrationSRStorage", "SRi"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.76", "EnhancedXRayRadiationDoseSRStorage", "SRde"),
    SOPClass("1.2.840.10008.5.1.4.1.1.88.77", "WaveformAnnotationSRStorage", "SRw"),
    SOPClass("1.2.840.10008.5.1.4.1.1.90.1", "ContentAssessmentResultsStorage", "AS"),
    SOPClass("1.2.840.10008.5.1.4.1.1.91.1", "MicroscopyBulkSimpleAnnotationsStorage", "MAs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.104.1", "EncapsulatedPDFStorage", "PDF"),
    SOPClass("1.2.840.10008.5.1.4.1.1.104.2", "EncapsulatedCDAStorage", "CDA"),
    SOPClass("1.2.840.10008.5.1.4.1.1.104.3", "EncapsulatedSTLStorage", "STL"),
    SOPClass("1.2.840.10008.5.1.4.1.1.104.4", "EncapsulatedOBJStorage", "OBJ"),
    SOPClass("1.2.840.10008.5.1.4.1.1.104.5", "EncapsulatedMTLStorage", "MTL"),
    SOPClass("1.2.840.10008.5.1.4.1.1.128", "PositronEmissionTomographyImageStorage", "PI"),
    SOPClass("1.2.840.10008.5.1.4.1.1.128.1", "LegacyConvertedEnhancedPETImageStorage", "PIl"),
    SOPClass("1.2.840.10008.5.1.4.1.1.129", "RETIRED_StandalonePETCurveStorage", "PC"),
    SOPClass("1.2.840.10008.5.1.4.1.1.130", "EnhancedPETImageStorage", "PIe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.131", "BasicStructuredDisplayStorage", "SD"),
    SOPClass("1.2.840.10008.5.1.4.1.1.200.2", "CTPerformedProcedureProtocolStorage", "PPcp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.200.8", "XAPerformedProcedureProtocolStorage", "PPxp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.1", "RTImageStorage", "RI"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.2", "RTDoseStorage", "RD"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.3", "RTStructureSetStorage", "RS"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.4", "RTBeamsTreatmentRecordStorage", "RTb"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.5", "RTPlanStorage", "RP"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.6", "RTBrachyTreatmentRecordStorage", "RTr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.7", "RTTreatmentSummaryRecordStorage", "RTs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.8", "RTIonPlanStorage", "RPi"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.9", "RTIonBeamsTreatmentRecordStorage", "RTi"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.10", "RTPhysicianIntentStorage", "RIp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.11", "RTSegmentAnnotationStorage", "RAs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.12", "RTRadiationSetStorage", "RSe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.13", "CArmPhotonElectronRadiationStorage", "Rca"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.14", "TomotherapeuticRadiationStorage", "Rto"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.15", "RoboticArmRadiationStorage", "Rra"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.16", "RTRadiationRecordSetStorage", "RSr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.17", "RTRadiationSalvageRecordStorage", "RRs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.18", "TomotherapeuticRadiationRecordStorage", "RRt"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.19", "CArmPhotonElectronRadiationRecordStorage", "RRc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.20", "RoboticRadiationRecordStorage", "RRr"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.21", "RTRadiationSetDeliveryInstructionStorage", "RSd"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.22", "RTTreatmentPreparationStorage", "RTp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.23", "EnhancedRTImageStorage", "RIe"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.24", "EnhancedContinuousRTImageStorage", "RIc"),
    SOPClass("1.2.840.10008.5.1.4.1.1.481.25", "RTPatientPositionAcquisitionInstructionStorage", "RPp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.501.1", "DICOS_CTImageStorage", "CTs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.501.2.1", "DICOS_DigitalXRayImageStorageForPresentation", "DXs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.501.2.2", "DICOS_DigitalXRayImageStorageForProcessing", "DPs"),
    SOPClass("1.2.840.10008.5.1.4.1.1.501.3", "DICOS_ThreatDetectionReportStorage", "TDR"),
    SOPClass("1.2.840.10008.5.1.4.1.1.501.4", "DICOS_2DAITStorage", "AI2"),
    SOPClass("1.2.840.10008.5.1.4.1.1.501.5", "DICOS_3DAITStorage", "AI3"),
    SOPClass("1.2.840.10008.5.1.4.1.1.501.6", "DICOS_QuadrupoleResonanceStorage", "QR"),
    SOPClass("1.2.840.10008.5.1.4.1.1.601.1", "DICONDE_EddyCurrentImageStorage", "EC"),
    SOPClass("1.2.840.10008.5.1.4.1.1.601.2", "DICONDE_EddyCurrentMultiframeImageStorage", "ECm"),
    SOPClass("1.2.840.10008.5.1.4.1.1.601.3", "DICONDE_ThermographyImageStorage", "TG"),
    SOPClass("1.2.840.10008.5.1.4.1.1.601.4", "DICONDE_ThermographyMultiFrameImageStorage", "TGm"),
    SOPClass("1.2.840.10008.5.1.4.34.1", "DRAFT_RTBeamsDeliveryInstructionStorage", "RB_d"),
    SOPClass("1.2.840.10008.5.1.4.34.7", "RTBeamsDeliveryInstructionStorage", "RTd"),
    SOPClass("1.2.840.10008.5.1.4.34.10", "RTBrachyApplicationSetupDeliveryInstructionStorage", "RTa"),
)

#: UIDs of :data:`STORAGE_SOP_CLASSES`.
STORAGE_SOP_CLASS_UIDS = frozenset(c.uid for c in STORAGE_SOP_CLASSES)

#: Classes outside the default storage list that still have a file-name prefix
#: in the modality table (spec 5.1).  storescp refuses them by default (spec
#: 3.1: non-patient objects) but they can be accepted through an association
#: negotiation profile (``-xf``) and then get these prefixes.  The names are
#: the standard keywords (the manual does not list these classes).
OTHER_PREFIXED_SOP_CLASSES: Tuple[SOPClass, ...] = (
    SOPClass("1.2.840.10008.5.1.4.1.1.200.1", "CTDefinedProcedureProtocolStorage", "PPcd"),
    SOPClass("1.2.840.10008.5.1.4.1.1.200.3", "ProtocolApprovalStorage", "PAp"),
    SOPClass("1.2.840.10008.5.1.4.1.1.200.7", "XADefinedProcedureProtocolStorage", "PPxd"),
    SOPClass("1.2.840.10008.5.1.4.1.1.201.1", "InventoryStorage", "INV"),
    SOPClass("1.2.840.10008.5.1.4.38.1", "HangingProtocolStorage", "HP"),
    SOPClass("1.2.840.10008.5.1.4.39.1", "ColorPaletteStorage", "CP"),
    SOPClass("1.2.840.10008.5.1.4.43.1", "GenericImplantTemplateStorage", "IT"),
    SOPClass("1.2.840.10008.5.1.4.44.1", "ImplantAssemblyTemplateStorage", "ITa"),
    SOPClass("1.2.840.10008.5.1.4.45.1", "ImplantTemplateGroupStorage", "ITg"),
)

#: Prefix used in file names for a SOP class without a prefix (spec 5.1).
UNKNOWN_PREFIX = "UNKNOWN"
#: Abbreviation storescp prints in its log line for such a class (spec 5.1).
UNKNOWN_LOG_ABBREVIATION = "OT"

_BY_UID: Dict[str, SOPClass] = {
    c.uid: c for c in STORAGE_SOP_CLASSES + OTHER_PREFIXED_SOP_CLASSES
}


def is_storage_sop_class(uid: str) -> bool:
    """True if storescp accepts *uid* as a storage class by default."""
    return uid in STORAGE_SOP_CLASS_UIDS


def sop_class_name(uid: str) -> Optional[str]:
    """Name of a known SOP class (storage classes, Verification, and the
    prefixed non-default classes), else ``None``.

    This is *not* DCMTK's full UID dictionary: do not use it to decide what
    ``-pm`` (promiscuous mode) accepts.
    """
    if uid == VERIFICATION_SOP_CLASS:
        return VERIFICATION_SOP_CLASS_NAME
    c = _BY_UID.get(uid)
    return c.name if c is not None else None


def filename_prefix(uid: str) -> str:
    """File-name prefix for SOP class *uid* (``"CT"``, ``"SRc"`` …), or
    ``"UNKNOWN"`` when the modality table has none."""
    c = _BY_UID.get(uid)
    return c.prefix if c is not None else UNKNOWN_PREFIX


def log_abbreviation(uid: str) -> str:
    """Abbreviation for storescp's log line: the prefix, or ``"OT"``."""
    c = _BY_UID.get(uid)
    return c.prefix if c is not None else UNKNOWN_LOG_ABBREVIATION


# ---------------------------------------------------------------------------
# Transfer syntaxes: the one table of their UIDs and properties
# ---------------------------------------------------------------------------


class TransferSyntax(NamedTuple):
    uid: str
    #: as printed in the manual's ``--accept-all`` list (abbreviations
    #: included); None for a syntax the manual does not list
    name: Optional[str]
    explicit_vr: bool
    little_endian: bool
    encapsulated: bool
    deflated: bool
    #: DCMTK's symbolic name (its UID name map), as negotiation profiles
    #: (``-xf``) may write it and the ``+v`` dump shows it
    dcmtk_name: str


#: The standard's transfer syntax UIDs are this one (implicit VR little
#: endian) and those below it.
TRANSFER_SYNTAX_ROOT = "1.2.840.10008.1.2"

IMPLICIT_VR_LITTLE_ENDIAN = TRANSFER_SYNTAX_ROOT
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"


def _plain(uid: str, dcmtk_name: str, name: Optional[str], explicit_vr: bool = True,
           little_endian: bool = True, deflated: bool = False) -> TransferSyntax:
    # Pixel data not encapsulated.
    return TransferSyntax(uid, name, explicit_vr, little_endian, False, deflated, dcmtk_name)


def _enc(uid: str, dcmtk_name: str, name: Optional[str] = None) -> TransferSyntax:
    # Encapsulated (compressed) pixel data, explicit VR little endian.
    return TransferSyntax(uid, name, True, True, True, False, dcmtk_name)


#: Every transfer syntax fastscp knows by name, in the order of DCMTK's UID
#: name map: the manual's ``--accept-all`` list (those with a ``name``, in
#: the manual's order) and the other syntaxes DCMTK names.
KNOWN_TRANSFER_SYNTAXES: Tuple[TransferSyntax, ...] = (
    _plain(IMPLICIT_VR_LITTLE_ENDIAN, "LittleEndianImplicit", "LittleEndianImplicitTransferSyntax",
           explicit_vr=False),
    _plain(EXPLICIT_VR_LITTLE_ENDIAN, "LittleEndianExplicit", "LittleEndianExplicitTransferSyntax"),
    _enc(ENCAPSULATED_UNCOMPRESSED, "EncapsulatedUncompressedLittleEndianExplicit",
         "EncapsulatedUncompressedExplicitVRLittleEndianTr.S."),
    _plain(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, "DeflatedLittleEndianExplicit",
           "DeflatedExplicitVRLittleEndianTransferSyntax", deflated=True),
    _plain(EXPLICIT_VR_BIG_ENDIAN, "BigEndianExplicit", "BigEndianExplicitTransferSyntax",
           little_endian=False),
    _enc("1.2.840.10008.1.2.4.50", "JPEGBaseline", "JPEGProcess1TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.51", "JPEGExtended:Process2+4", "JPEGProcess2_4TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.52", "JPEGExtended:Process3+5"),
    _enc("1.2.840.10008.1.2.4.53", "JPEGSpectralSelection:Non-hierarchical:Process6+8"),
    _enc("1.2.840.10008.1.2.4.54", "JPEGSpectralSelection:Non-hierarchical:Process7+9"),
    _enc("1.2.840.10008.1.2.4.55", "JPEGFullProgression:Non-hierarchical:Process10+12"),
    _enc("1.2.840.10008.1.2.4.56", "JPEGFullProgression:Non-hierarchical:Process11+13"),
    _enc("1.2.840.10008.1.2.4.57", "JPEGLossless:Non-hierarchical:Process14"),
    _enc("1.2.840.10008.1.2.4.58", "JPEGLossless:Non-hierarchical:Process15"),
    _enc("1.2.840.10008.1.2.4.59", "JPEGExtended:Hierarchical:Process16+18"),
    _enc("1.2.840.10008.1.2.4.60", "JPEGExtended:Hierarchical:Process17+19"),
    _enc("1.2.840.10008.1.2.4.61", "JPEGSpectralSelection:Hierarchical:Process20+22"),
    _enc("1.2.840.10008.1.2.4.62", "JPEGSpectralSelection:Hierarchical:Process21+23"),
    _enc("1.2.840.10008.1.2.4.63", "JPEGFullProgression:Hierarchical:Process24+26"),
    _enc("1.2.840.10008.1.2.4.64", "JPEGFullProgression:Hierarchical:Process25+27"),
    _enc("1.2.840.10008.1.2.4.65", "JPEGLossless:Hierarchical:Process28"),
    _enc("1.2.840.10008.1.2.4.66", "JPEGLossless:Hierarchical:Process29"),
    _enc("1.2.840.10008.1.2.4.70", "JPEGLossless:Non-hierarchical-1stOrderPrediction",
         "JPEGProcess14SV1TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.80", "JPEGLSLossless", "JPEGLSLosslessTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.81", "JPEGLSLossy", "JPEGLSLossyTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.90", "JPEG2000LosslessOnly", "JPEG2000LosslessOnlyTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.91", "JPEG2000", "JPEG2000TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.92", "JPEG2000MulticomponentLosslessOnly"),
    _enc("1.2.840.10008.1.2.4.93", "JPEG2000Multicomponent"),
    # JPIP: the pixel data is referenced, not in the data set
    _plain("1.2.840.10008.1.2.4.94", "JPIPReferenced", None),
    _plain("1.2.840.10008.1.2.4.95", "JPIPReferencedDeflate", None, deflated=True),
    _enc("1.2.840.10008.1.2.4.100", "MPEG2MainProfile@MainLevel",
         "MPEG2MainProfileAtMainLevelTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.100.1", "FragmentableMPEG2MainProfile@MainLevel",
         "FragmentableMPEG2MainProfile/MainLevelTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.101", "MPEG2MainProfile@HighLevel",
         "MPEG2MainProfileAtHighLevelTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.101.1", "FragmentableMPEG2MainProfile@HighLevel",
         "FragmentableMPEG2MainProfil/tHighLevelTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.102", "MPEG4HighProfile/Level4.1",
         "MPEG4HighProfileLevel4_1TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.102.1", "FragmentableMPEG4HighProfile/Level4.1",
         "FragmentableMPEG4HighProfileLevel4_1TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.103", "MPEG4BDcompatibleHighProfile/Level4.1",
         "MPEG4BDcompatibleHighProfileLevel4_1TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.103.1", "FragmentableMPEG4BDcompatibleHighProfile/Level4.1",
         "FragmentableMPEG4BDcompatibleHighProfileLevel4_1T.S."),
    _enc("1.2.840.10008.1.2.4.104", "MPEG4HighProfile/Level4.2For2DVideo",
         "MPEG4HighProfileLevel4_2_For2DVideoTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.104.1", "FragmentableMPEG4HighProfile/Level4.2For2DVideo",
         "FragmentableMPEG4HighProfileLevel4_2_For2DVideoTr.S."),
    _enc("1.2.840.10008.1.2.4.105", "MPEG4HighProfile/Level4.2For3DVideo",
         "MPEG4HighProfileLevel4_2_For3DVideoTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.105.1", "FragmentableMPEG4HighProfile/Level4.2For3DVideo",
         "FragmentableMPEG4HighProfileLevel4_2_For3DVideoTr.S."),
    _enc("1.2.840.10008.1.2.4.106", "MPEG4StereoHighProfile/Level4.2",
         "MPEG4StereoHighProfileLevel4_2TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.106.1", "FragmentableMPEG4StereoHighProfile/Level4.2",
         "FragmentableMPEG4StereoHighProfileLevel4_2TransferS."),
    _enc("1.2.840.10008.1.2.4.107", "HEVCMainProfile/Level5.1", "HEVCMainProfileLevel5_1TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.108", "HEVCMain10Profile/Level5.1",
         "HEVCMain10ProfileLevel5_1TransferSyntax"),
    _enc("1.2.840.10008.1.2.4.110", "JPEGXLLossless", "JPEGXLLosslesTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.111", "JPEGXLJPEGRecompression", "JPEGXLJPEGRecompressionTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.112", "JPEGXL", "JPEGXLTransferSyntax"),
    _enc("1.2.840.10008.1.2.4.201", "HighThroughputJPEG2000LosslessOnly",
         "HighThroughputJPEG2000ImageCompressionLossless.Tr.S."),
    _enc("1.2.840.10008.1.2.4.202", "HighThroughputJPEG2000withRPCLOptionsLosslessOnly",
         "HighThroughputJPEG2000RPCLImageCompressionLoss.Tr.S."),
    _enc("1.2.840.10008.1.2.4.203", "HighThroughputJPEG2000",
         "HighThroughputJPEG2000ImageCompressionTransferSynta."),
    _enc("1.2.840.10008.1.2.5", "RLELossless", "RLELosslessTransferSyntax"),
    # GE's private syntax: implicit VR little endian, pixel data big endian
    _plain("1.2.840.113619.5.2", "PrivateGELittleEndianImplicitWithBigEndianPixelData", None,
           explicit_vr=False),
)

#: Every transfer syntax of the manual's ``--accept-all`` list, in its order.
TRANSFER_SYNTAXES: Tuple[TransferSyntax, ...] = tuple(
    t for t in KNOWN_TRANSFER_SYNTAXES if t.name is not None)

_TS_BY_UID: Dict[str, TransferSyntax] = {t.uid: t for t in KNOWN_TRANSFER_SYNTAXES}
_TS_BY_DCMTK_NAME: Dict[str, TransferSyntax] = {t.dcmtk_name: t for t in KNOWN_TRANSFER_SYNTAXES}

#: The three syntaxes storescp accepts without ``--accept-all`` / ``--prefer-*``
#: of a compressed syntax (manual, first list).
UNCOMPRESSED_TRANSFER_SYNTAXES = frozenset(
    (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN)
)


def transfer_syntax(uid: str) -> Optional[TransferSyntax]:
    """The :class:`TransferSyntax` for *uid*, or ``None`` if not in the table."""
    return _TS_BY_UID.get(uid)


def transfer_syntax_by_dcmtk_name(name: str) -> Optional[TransferSyntax]:
    """The :class:`TransferSyntax` DCMTK calls *name* (``"JPEGBaseline"`` …), or ``None``."""
    return _TS_BY_DCMTK_NAME.get(name)


def is_standard_transfer_syntax(uid: str) -> bool:
    """*uid* is one of the DICOM standard's transfer syntaxes, known here or
    not (defined later): :data:`TRANSFER_SYNTAX_ROOT` or below it."""
    return uid == TRANSFER_SYNTAX_ROOT or uid.startswith(TRANSFER_SYNTAX_ROOT + ".")


# ---------------------------------------------------------------------------
# Preference lists (spec 3.1).  The first entry of the list that the SCU
# proposed anywhere in the presentation context wins.
# ---------------------------------------------------------------------------


def _by_names(*dcmtk_names: str) -> Tuple[str, ...]:
    return tuple(_TS_BY_DCMTK_NAME[n].uid for n in dcmtk_names)


def _explicit_local_first(byteorder: str) -> Tuple[str, str]:
    if byteorder == "big":
        return (EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)
    return (EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN)


#: Explicit VR little/big endian, then implicit; explicit local byte order first.
_LE_FIRST = (EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
_BE_FIRST = (EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)

# Options that prefer one (usually compressed) syntax, then ELE, EBE, ILE on
# any host (spec 3.1).  Long option name -> DCMTK's name of the syntax.
_SINGLE_PREFERENCE = (
    ("prefer-lossless", "JPEGLossless:Non-hierarchical-1stOrderPrediction"),   # +xs
    ("prefer-jpeg8", "JPEGBaseline"),                                          # +xy
    ("prefer-jpeg12", "JPEGExtended:Process2+4"),                              # +xx
    ("prefer-j2k-lossless", "JPEG2000LosslessOnly"),                           # +xv
    ("prefer-j2k-lossy", "JPEG2000"),                                          # +xw
    ("prefer-jls-lossless", "JPEGLSLossless"),                                 # +xt
    ("prefer-jls-lossy", "JPEGLSLossy"),                                       # +xu
    ("prefer-mpeg2", "MPEG2MainProfile@MainLevel"),                            # +xm
    ("prefer-mpeg2-high", "MPEG2MainProfile@HighLevel"),                       # +xh
    ("prefer-mpeg4", "MPEG4HighProfile/Level4.1"),                             # +xn
    ("prefer-mpeg4-bd", "MPEG4BDcompatibleHighProfile/Level4.1"),              # +xl
    ("prefer-mpeg4-2-2d", "MPEG4HighProfile/Level4.2For2DVideo"),              # +x2
    ("prefer-mpeg4-2-3d", "MPEG4HighProfile/Level4.2For3DVideo"),              # +x3
    ("prefer-mpeg4-2-st", "MPEG4StereoHighProfile/Level4.2"),                  # +xo
    ("prefer-hevc", "HEVCMainProfile/Level5.1"),                               # +x4
    ("prefer-hevc10", "HEVCMain10Profile/Level5.1"),                           # +x5
    ("prefer-rle", "RLELossless"),                                             # +xr
    ("prefer-deflated", "DeflatedLittleEndianExplicit"),                       # +xd
)

# --accept-all (3.6.9): everything compressed/special first, then explicit
# local byte order, explicit other byte order, implicit.
_ACCEPT_ALL_HEAD = _by_names(
    "JPEG2000", "JPEG2000LosslessOnly", "JPEGExtended:Process2+4", "JPEGBaseline",
    "JPEGLossless:Non-hierarchical-1stOrderPrediction", "JPEGLSLossy", "JPEGLSLossless",
    "RLELossless",
    "MPEG2MainProfile@MainLevel", "FragmentableMPEG2MainProfile@MainLevel",
    "MPEG2MainProfile@HighLevel", "FragmentableMPEG2MainProfile@HighLevel",
    "MPEG4HighProfile/Level4.1", "FragmentableMPEG4HighProfile/Level4.1",
    "MPEG4BDcompatibleHighProfile/Level4.1", "FragmentableMPEG4BDcompatibleHighProfile/Level4.1",
    "MPEG4HighProfile/Level4.2For2DVideo", "FragmentableMPEG4HighProfile/Level4.2For2DVideo",
    "MPEG4HighProfile/Level4.2For3DVideo", "FragmentableMPEG4HighProfile/Level4.2For3DVideo",
    "MPEG4StereoHighProfile/Level4.2", "FragmentableMPEG4StereoHighProfile/Level4.2",
    "HEVCMainProfile/Level5.1", "HEVCMain10Profile/Level5.1",
    "HighThroughputJPEG2000LosslessOnly", "HighThroughputJPEG2000withRPCLOptionsLosslessOnly",
    "HighThroughputJPEG2000",
    "JPEGXLLossless", "JPEGXLJPEGRecompression", "JPEGXL",
    "DeflatedLittleEndianExplicit", "EncapsulatedUncompressedLittleEndianExplicit",
)


def _build_preference_lists(byteorder: str) -> Dict[str, Tuple[str, ...]]:
    local = _explicit_local_first(byteorder)
    lists: Dict[str, Tuple[str, ...]] = {
        "prefer-uncompr": local + (IMPLICIT_VR_LITTLE_ENDIAN,),  # +x= (default)
        "prefer-little": _LE_FIRST,                              # +xe
        "prefer-big": _BE_FIRST,                                 # +xb
    }
    for option, dcmtk_name in _SINGLE_PREFERENCE:
        lists[option] = _by_names(dcmtk_name) + _LE_FIRST
    lists["implicit"] = (IMPLICIT_VR_LITTLE_ENDIAN,)            # +xi
    lists["accept-all"] = _ACCEPT_ALL_HEAD + local + (IMPLICIT_VR_LITTLE_ENDIAN,)  # +xa
    return lists


def preference_list(option: str = "prefer-uncompr",
                    byteorder: str = sys.byteorder) -> Tuple[str, ...]:
    """Preference list for a long option name (without ``--``) on a host of
    the given byte order.  Raises ``KeyError`` for an unknown option."""
    return _build_preference_lists(byteorder)[option]


#: Preference lists for this host, keyed by long option name (no ``--``).
PREFERENCE_LISTS: Dict[str, Tuple[str, ...]] = _build_preference_lists(sys.byteorder)

#: The default list (``--prefer-uncompr``): ELE, EBE, ILE on little-endian
#: hosts, EBE, ELE, ILE on big-endian hosts.
UNCOMPRESSED_PREFERENCE: Tuple[str, ...] = PREFERENCE_LISTS["prefer-uncompr"]
